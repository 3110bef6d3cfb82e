"""The checked-in protobuf modules are exactly what protos/netobj.proto generates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_modules_match_protos(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}",
         f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", str(ROOT / "protos/netobj.proto")],
        check=True, capture_output=True, timeout=60,
    )
    for name in ("netobj_pb2.py", "netobj_pb2.pyi"):
        fresh = (tmp_path / name).read_text()
        checked_in = (ROOT / "netobj" / "wire" / name).read_text()
        assert fresh == checked_in, f"netobj/wire/{name} is stale: run 'make proto'"


def test_field_numbers_are_never_reused() -> None:
    """Each message's field numbers are unique (proto reserves retired ones)."""
    from netobj.wire import netobj_pb2 as pb

    for message in pb.DESCRIPTOR.message_types_by_name.values():
        numbers = [f.number for f in message.fields]
        assert len(numbers) == len(set(numbers)), message.name
