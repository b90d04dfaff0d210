"""`cnnlab serve INDEX`: the search service on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import typer

from cnnlab.errors import CnnlabError
from cnnlab.train.run import console


def serve(index_dir: str = typer.Argument(..., help="an index folder (cnnlab similarity index)"),
          host: str = typer.Option("127.0.0.1", help="address to bind; 0.0.0.0 exposes the service to the network"),
          port: int = typer.Option(8000), device: str = typer.Option("auto"),
          max_upload_mb: float = typer.Option(10.0, help="largest accepted upload")) -> None:
    """Serve similar-image search over an index: web page at /, POST /search, API docs at /docs."""
    try:
        import uvicorn

        from cnnlab.serve.app import create_app
    except ImportError as exc:
        raise CnnlabError(f"the service needs the [serve] extra ({exc.name} is missing): "
                          'pip install "cnnlab[serve]"') from exc

    app = create_app(index_dir, device=device, max_upload_bytes=int(max_upload_mb * 1024 * 1024))
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]binding to {host}: anyone who can reach this machine can query the index[/]")
    console.print(f"searching {index_dir}: open http://{host}:{port}/ (API docs: /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
