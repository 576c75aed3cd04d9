"""The Celery application of the distributed executor, built from ``settings.executor``.

Celery delivers messages; it holds no state of ours. What a run has to do and what is done lives
in the run plan in the sink (:class:`~gruponos.application.scaleout.DistributedRuns`), so:

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged after its task
  returned, so a worker that dies (kill -9, OOM) leaves it to be delivered again (Redis: after the
  ``visibility_timeout``; RabbitMQ: when the dead worker's connection closes);
- ``worker_prefetch_multiplier=1``: a worker reserves one message per free thread, never a pile
  that another worker could have run;
- JSON only, no result backend: completion is read from the plan's rows, not from Celery.

The three task names are the whole wire protocol (the workers and whoever sends them need only
this module): ``gruponos.coordinate`` (a :class:`RunRequest` as JSON), ``gruponos.task`` (a plan
task as JSON) and ``gruponos.finalise`` (a run id).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from gruponos.application.ports import RunRequest
from gruponos.domain.checkpoints import SyncMode

COORDINATE = "gruponos.coordinate"
TASK = "gruponos.task"
FINALISE = "gruponos.finalise"


def celery_app(
    broker_url: str, queue: str, visibility_timeout: float, *, name: str = "gruponos"
) -> Celery:
    """The app every process of one deployment shares (senders and workers alike).

    >>> app = celery_app("redis://127.0.0.1:6379/0", "gruponos", 7200.0)
    >>> app.conf.task_acks_late, app.conf.worker_prefetch_multiplier
    (True, 1)
    """
    app = Celery(name, broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=queue,
        task_routes={"gruponos.*": {"queue": queue}},
        # Redis redelivers an unacknowledged message after this; a window must finish sooner.
        # (Transport options a transport does not know are ignored: AMQP has no such timeout.)
        broker_transport_options={"visibility_timeout": visibility_timeout},
        broker_connection_retry_on_startup=True,
        # gruponos logs through structlog; Celery must not take the root logger over.
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        # A worker that loses the broker keeps its task running (it commits to the sink, not to
        # the broker); the redelivered copy then finds the window done or leased.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 5,
            "interval_start": 0.5,
            "interval_step": 1.0,
            "interval_max": 5.0,
        },
        worker_enable_remote_control=False,
        worker_send_task_events=False,
    )
    return app


def request_to_json(request: RunRequest) -> dict[str, Any]:
    """A run request as the JSON the ``gruponos.coordinate`` message carries."""
    return {
        "run_id": request.run_id,
        "mode": request.mode.value,
        "entities": list(request.entities),
        "dry_run": request.dry_run,
        "triggered_by": request.triggered_by,
    }


def request_from_json(data: dict[str, Any]) -> RunRequest:
    """The inverse of :func:`request_to_json` (a malformed message raises: it is a bug)."""
    return RunRequest(
        run_id=str(data["run_id"]),
        mode=SyncMode(data["mode"]),
        entities=tuple(str(e) for e in data["entities"]),
        dry_run=bool(data.get("dry_run", False)),
        triggered_by=data.get("triggered_by"),
    )
