"""Run the service under uvicorn: one process, or several started from `create_app` in new processes.

Kept apart from `api.app` so that building the app (what tests and embedding need) never touches process
start-up, the environment or logging configuration.
"""

from __future__ import annotations

import os

from api.app import create_app
from api.settings import Settings


def serve(settings: Settings, *, host: str, port: int, workers: int = 1, access_log: bool = False) -> None:
    """Run the service under uvicorn until interrupted.

    With several workers uvicorn starts each from `create_app` in a new process, which reads its settings
    from the environment: the given settings are written there first (this is the one place that writes it).
    """
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from api.store import ArticleStore

    # A database that cannot be opened is one clear StoreError here, before uvicorn would print it as a
    # start-up traceback (and, with several workers, once per worker).
    ArticleStore(settings.database_path).close()

    # Our own messages (model missing, reloads) through uvicorn's handler, in every worker process.
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["api"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, access_log=access_log, log_config=log_config,
                    timeout_keep_alive=settings.keep_alive_seconds)
        return
    # Workers share the database, not their memory: a reply reaching another worker than its parent must find the
    # parent committed there (api.service.Service.classify).
    settings = settings.model_copy(update={"commit_before_answer": True, "shared_database": True})
    os.environ.update(settings_environment(settings))
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                access_log=access_log, log_config=log_config, timeout_keep_alive=settings.keep_alive_seconds)


def settings_environment(settings: Settings) -> dict[str, str]:
    """MODERATE_* variables that reproduce `settings` in another process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"MODERATE_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env
