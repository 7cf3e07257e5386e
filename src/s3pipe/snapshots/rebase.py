"""Ports and paths inside a snapshot: replaced by placeholders when stored, by this session's values when restored.

MiniStack keeps queue URLs with its own port (``http://localhost:<port>/<account>/<queue>``) as
the keys of its SQS store; its event source mapping poller finds a queue by rebuilding that URL
from the port it runs on, so a state restored on another port must be rewritten before the
emulator loads it, or the mapping never polls. The function's environment holds the DLQ URL
(emulator port) and ``AWS_ENDPOINT_URL`` (the function gateway's port); Terraform's state and
outputs hold the queue URLs and the workspace path of the Lambda zip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EMULATOR_PORT = "{{s3pipe:emulator_port}}"
GATEWAY_PORT = "{{s3pipe:gateway_port}}"
WORKSPACE = "{{s3pipe:workspace}}"
PLACEHOLDERS = (EMULATOR_PORT, GATEWAY_PORT, WORKSPACE)

_LOOPBACK = r"(?P<host>127\.0\.0\.1|localhost|\[::1\])"


@dataclass(frozen=True)
class Placement:
    """Where a stack lives: the emulator's and the function gateway's ports, and the stack workspace."""

    emulator_port: int
    gateway_port: int | None
    workspace: str

    def to_placeholders(self, text: str) -> str:
        """``127.0.0.1:<port>`` -> ``127.0.0.1:{{s3pipe:emulator_port}}`` (any loopback host), path -> placeholder."""
        text = _replace_port(text, self.emulator_port, EMULATOR_PORT)
        if self.gateway_port is not None:
            text = _replace_port(text, self.gateway_port, GATEWAY_PORT)
        return text.replace(self.workspace, WORKSPACE) if self.workspace else text

    def from_placeholders(self, text: str) -> str:
        """The inverse of :meth:`to_placeholders` for this placement."""
        text = text.replace(EMULATOR_PORT, str(self.emulator_port))
        if self.gateway_port is not None:
            text = text.replace(GATEWAY_PORT, str(self.gateway_port))
        return text.replace(WORKSPACE, self.workspace)


def _replace_port(text: str, port: int, placeholder: str) -> str:
    pattern = re.compile(_LOOPBACK + ":" + str(port) + r"(?!\d)")
    return pattern.sub(lambda match: f"{match.group('host')}:{placeholder}", text)


def leftover_placeholders(text: str) -> list[str]:
    """Placeholders a restore could not fill (a gateway port for a placement without a gateway)."""
    return [placeholder for placeholder in PLACEHOLDERS if placeholder in text]
