"""`cnnlab serve INDEX`: the search service on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import math

import typer

from cnnlab.checks import check_device, check_number
from cnnlab.console import console
from cnnlab.errors import CnnlabError, ConfigError

MAX_UPLOAD_MB = 1024
MAX_CONNECTIONS = 64  # uvicorn answers 503 beyond this many open connections


def serve(index_dir: str = typer.Argument(..., help="an index folder (cnnlab similarity index)"),
          host: str = typer.Option("127.0.0.1", help="address to bind; 0.0.0.0 exposes the service to the network "
                                   "(and then needs --token)"),
          port: int = typer.Option(8000, help="TCP port, 1 to 65535"), device: str = typer.Option("auto"),
          max_upload_mb: float = typer.Option(10.0, help="largest accepted upload (one file), in MiB"),
          max_batch_mb: float = typer.Option(64.0, help="largest POST /images (all its files), in MiB"),
          read_only: bool = typer.Option(False, "--read-only", help="refuse to add or remove images (403)"),
          token: str = typer.Option(None, envvar="CNNLAB_TOKEN", show_default=False,
                                    help="require 'Authorization: Bearer TOKEN' on every request (the web page "
                                    "asks for it, or takes it from /#token=TOKEN); needed beyond loopback"),
          allow_host: list[str] = typer.Option([], "--allow-host", help="another Host name the service answers "
                                               "to (besides localhost and the bound address), repeatable; '*': any"),
          ) -> None:
    """Serve similar-image search over an index: web page at /, POST /search, POST /images (add), API docs at
    /docs."""
    check_number("port", port, low=1, high=65535, integer=True)
    check_number("max_upload_mb", max_upload_mb, low=0, low_open=True, high=MAX_UPLOAD_MB)
    check_number("max_batch_mb", max_batch_mb, low=0, low_open=True, high=MAX_UPLOAD_MB)
    check_device(device)
    if not host or not host.strip():
        raise ConfigError("--host must be an address to bind, such as 127.0.0.1")
    if any(not h.strip() for h in allow_host):
        raise ConfigError("--allow-host takes a host name, such as search.example.org")
    try:
        import uvicorn

        from cnnlab.serve.app import create_app
        from cnnlab.serve.guard import check_exposure, is_loopback
    except ImportError as exc:
        raise CnnlabError(f"the service needs the [serve] extra ({exc.name} is missing): "
                          'pip install "cnnlab[serve]"') from exc

    check_exposure(host, token)  # before the index and its model are loaded
    app = create_app(index_dir, device=device, max_upload_bytes=max(1, math.floor(max_upload_mb * 1024 * 1024)),
                     max_batch_bytes=max(1, math.floor(max_batch_mb * 1024 * 1024)), token=token, host=host,
                     allow_hosts=allow_host, read_only=read_only)
    if not is_loopback(host):
        console.print(f"binding to {host}: anyone who can reach this machine and holds the token can query the "
                      "index", style="yellow", markup=False)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"searching {index_dir}: open http://{shown}:{port}/ (API docs: /docs)"
                  + ("; requests need the token" if token else "") + ("; read-only" if read_only else ""),
                  markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", limit_concurrency=MAX_CONNECTIONS,
                server_header=False)
