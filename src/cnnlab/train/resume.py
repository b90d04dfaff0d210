"""What a resumed run may change: options given beside --resume are checked against the run's own config.

A run continues with the config it was started with. Options the user gives again must agree with it, except
the few that only say how to go on: --epochs (a larger number extends a finished run), --max-seconds and
--device. Anything else that differs is refused, naming each difference, instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable

from cnnlab.checks import option as flag
from cnnlab.errors import ConfigError
from cnnlab.options import said

FREE = ("max_seconds", "device", "tensorboard")  # how to go on, not what the run is
NOT_CONFIG = ("name", "runs_dir", "resume", "overwrite")
NESTED = ("data", "fit")  # config sections whose fields are options of their own; other dicts compare whole


def flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in d.items():
        if isinstance(value, dict) and key in NESTED:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def _set(d: dict, dotted: str, value: object) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        d = d[key]
    d[leaf] = value


def _compare(option: str, key: str, old: dict, new: dict, extendable: tuple[str, ...], changes: dict,
             differences: list[str]) -> None:
    """Sort one given option whose value differs from the run's: a change allowed on resume, or a difference."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf in FREE:
        changes[key] = new[key]
    elif key in extendable and not old.get("fit.phases"):
        if new[key] < old[key]:
            raise ConfigError(f"{flag(option)} {new[key]} is fewer than the run's {old[key]}; "
                              "a run can be extended, not shortened")
        changes[key] = new[key]
    else:
        differences.append(f"{flag(option)}: the run has {key} = {old[key]!r}, given {new.get(key)!r}")


def resumed_config(stored, given_cfg, given: set[str], from_dict: Callable[[dict], object],
                   aliases: dict[str, tuple[str, ...]] | None = None, extendable: tuple[str, ...] = ("fit.epochs",)):
    """The config to resume with: `stored` (the run's), with --epochs/--max-seconds/--device taken from
    `given_cfg` when they were given (names in `given`, the CLI options the user typed). ConfigError when
    any other given option differs from the run's value. `aliases` maps an option to the config keys it
    sets where the names differ (e.g. model_arg -> model_args); `extendable` names the epoch counts that
    may grow (the last phase's: a finished run trains on)."""
    old, new = flatten(stored.to_dict()), flatten(given_cfg.to_dict())
    keys_of: dict[str, tuple[str, ...]] = {}
    for key in old:
        leaf = key.rsplit(".", 1)[-1]
        keys_of[leaf] = (*keys_of.get(leaf, ()), key)
    keys_of.update(aliases or {})
    changes, differences = {}, []
    for option in sorted(given - set(NOT_CONFIG)):
        for key in keys_of.get(option, ()):
            if key in old and old[key] != new.get(key):
                _compare(option, key, old, new, extendable, changes, differences)
    if differences:
        raise ConfigError(f"{said('resume', True)} continues a run with its own settings, but these options differ "
                          "from it: " + "; ".join(differences) + ". Leave them out to continue, or start a new run "
                          f"(another {said('name')}, or {said('overwrite', True)})")
    if not changes:
        return stored
    d = stored.to_dict()
    for key, value in changes.items():
        _set(d, key, value)
    return from_dict(d)
