"""States of the rows the node keeps: series, jobs, outbound transfers, audit events."""

from __future__ import annotations

import enum


class SeriesState(enum.Enum):
    """Whether a series is still receiving instances."""

    RECEIVING = "receiving"
    COMPLETE = "complete"


class CompletionRule(enum.Enum):
    """Which rule declared a series complete."""

    COUNT = "count"  # received instances reached NumberOfSlices
    QUIET = "quiet"  # no new instance for the quiet period


class JobState(enum.Enum):
    """Life cycle of a segmentation job."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class OutboundState(enum.Enum):
    """Life cycle of one result object on its way to one destination."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class AuditAction(enum.Enum):
    """What a person did through the review service: the kinds of the audit log."""

    LOGIN = "login"
    LOGIN_REFUSED = "login_refused"
    LOGOUT = "logout"
    USER_ADDED = "user_added"
    JOB_RETRIED = "job_retried"
    TRANSFERS_RETRIED = "transfers_retried"
    RESULTS_VERIFIED = "results_verified"
    REVIEW_OPENED = "review_opened"
    FINDING_ACCEPTED = "finding_accepted"
    FINDING_REJECTED = "finding_rejected"
    FINDING_RELABELLED = "finding_relabelled"
    CORRECTIVE_CLICK = "corrective_click"
    LESION_ADDED = "lesion_added"
    ORGAN_ADDED = "organ_added"
    STEP_UNDONE = "step_undone"
