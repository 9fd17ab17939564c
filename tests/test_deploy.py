"""deploy/kubernetes/: the Indexed Job manifest is valid Kubernetes (checked offline against the
API schemas kubernetes-validate ships) and runs a shard smtp-probe understands."""

from __future__ import annotations

import shlex
from pathlib import Path

import kubernetes_validate
import yaml

from probe.cli import build_parser
from probe.shard import parse_shard

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "deploy" / "kubernetes" / "job.yaml"


def documents() -> list[dict]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def test_every_resource_is_valid_kubernetes() -> None:
    version = kubernetes_validate.latest_version()
    for document in documents():
        # Raises ValidationError on a wrong field, a wrong type, or (strict) an unknown key.
        kubernetes_validate.validate(document, version, strict=True)


def test_the_job_is_indexed_and_each_pod_runs_its_shard() -> None:
    job = next(d for d in documents() if d["kind"] == "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    container = spec["template"]["spec"]["containers"][0]
    command = " ".join(container["args"])
    completions = spec["completions"]
    for index in range(completions):
        line = command.replace("${JOB_COMPLETION_INDEX}", str(index))
        argv = shlex.split(line)
        assert argv[:2] == ["exec", "smtp-probe"]
        argv = argv[1:]
        args, extra = build_parser().parse_known_args(argv[1:])
        assert not extra
        assert args.command == "run"
        shard = parse_shard(args.shard)
        assert (shard.index, shard.count) == (index, completions)
        assert args.format == "jsonl"
        assert str(args.output).startswith("/results/")
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert str(args.targets_file).startswith(tuple(mounts))
        assert "/results" in mounts
