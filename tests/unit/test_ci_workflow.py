"""Every ``steps.<id>`` a GitHub workflow expression names is a step of the same job, defined before
the step that reads it. The workflow schema cannot see this: a condition on a step that does not
exist is valid YAML and a valid expression, and silently false (issue 20: the snapshot cache steps
waited on ``steps.gate``, which no step defined, so every CI run applied cold)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))

_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")  # expressions quote strings with '...', '' escapes
_STEP_REFERENCE = re.compile(r"(?<![\w.-])steps\.([A-Za-z_][\w-]*)")


def expression_texts(value: object, *, condition: bool = False) -> Iterator[str]:
    """The expressions in a workflow value: every ``${{ ... }}``; an ``if:`` is one even without them."""
    if isinstance(value, str):
        found = _EXPRESSION.findall(value)
        yield from found if found or not condition else [value]
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from expression_texts(item, condition=key == "if")
    elif isinstance(value, list):
        for item in value:
            yield from expression_texts(item)


def step_ids_named(value: object, *, condition: bool = False) -> list[str]:
    """The step ids the expressions in ``value`` read (string literals excluded)."""
    return [
        step_id
        for text in expression_texts(value, condition=condition)
        for step_id in _STEP_REFERENCE.findall(_STRING_LITERAL.sub("''", text))
    ]


def undefined_step_references(workflow: Mapping[str, Any], name: str) -> list[str]:
    """One line per ``steps.<id>`` that names no step of its job, or a step that runs only later."""
    problems: list[str] = []
    for job_id, job in (workflow.get("jobs") or {}).items():
        steps: list[Mapping[str, Any]] = job.get("steps") or []
        all_ids = {str(step["id"]) for step in steps if "id" in step}
        for key, value in job.items():
            if key == "steps":
                continue
            for step_id in step_ids_named({key: value}):
                if key != "outputs":
                    problems.append(f"{name}: job {job_id!r} {key}: steps.{step_id}: no steps context at job level")
                elif step_id not in all_ids:
                    problems.append(f"{name}: job {job_id!r} outputs: steps.{step_id} is not a step of this job")
        defined: set[str] = set()
        for index, step in enumerate(steps, 1):
            label = f"step {step.get('name') or step.get('id') or step.get('uses') or index!r}"
            for step_id in step_ids_named(step):
                if step_id in defined:
                    continue
                why = "runs only later (or is this step)" if step_id in all_ids else "is not a step of this job"
                problems.append(f"{name}: job {job_id!r} {label}: steps.{step_id} {why}")
            if "id" in step:
                defined.add(str(step["id"]))
    return problems


def load(text: str) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load(textwrap.dedent(text))
    return workflow


# ---------------------------------------------------------------------------- the repository's workflows


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_every_step_an_expression_names_is_an_earlier_step_of_its_job(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert undefined_step_references(workflow, path.name) == []


def test_there_is_a_workflow_to_check() -> None:
    assert [path.name for path in WORKFLOWS] == ["ci.yml"]


def test_the_snapshot_cache_runs_in_the_embedded_cells() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    steps = {step.get("name"): step for step in workflow["jobs"]["test"]["steps"]}
    assert steps["Snapshot key"]["if"] == "matrix.backend == 'embedded'"
    assert steps["Cache emulator snapshots"]["if"] == "matrix.backend == 'embedded'"
    assert "steps.snapshot.outputs.key" in steps["Cache emulator snapshots"]["with"]["key"]


# ---------------------------------------------------------------------------- the check itself

#: The two steps as they were before issue 20: both wait on a step ``gate`` that no step defines.
OLD_SNAPSHOT_STEPS = """
    jobs:
      test:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - name: Snapshot key
            id: snapshot
            if: steps.gate.outputs.run == 'true' && matrix.backend == 'embedded'
            run: echo "key=$(s3pipe snapshot key)" >> "$GITHUB_OUTPUT"
          - name: Cache emulator snapshots
            if: steps.gate.outputs.run == 'true' && matrix.backend == 'embedded'
            uses: actions/cache@v4
            with:
              path: ~/.cache/s3pipe/snapshots
              key: s3pipe-snapshot-${{ runner.os }}-${{ steps.snapshot.outputs.key }}
"""


def test_the_old_snapshot_conditions_are_caught() -> None:
    assert undefined_step_references(load(OLD_SNAPSHOT_STEPS), "ci.yml") == [
        "ci.yml: job 'test' step 'Snapshot key': steps.gate is not a step of this job",
        "ci.yml: job 'test' step 'Cache emulator snapshots': steps.gate is not a step of this job",
    ]


def test_a_step_read_before_it_runs_or_by_itself_is_caught() -> None:
    workflow = load(
        """
        jobs:
          build:
            steps:
              - name: early
                env:
                  VERSION: ${{ steps.version.outputs.value }}
                run: echo "$VERSION"
              - id: version
                if: ${{ steps.version.outcome == 'success' }}
                run: echo "value=1" >> "$GITHUB_OUTPUT"
              - run: echo "${{ steps.version.outputs.value }}"
        """
    )
    assert undefined_step_references(workflow, "w.yml") == [
        "w.yml: job 'build' step 'early': steps.version runs only later (or is this step)",
        "w.yml: job 'build' step 'version': steps.version runs only later (or is this step)",
    ]


def test_another_jobs_steps_are_not_this_jobs() -> None:
    workflow = load(
        """
        jobs:
          one:
            steps:
              - id: made
                run: "true"
          two:
            steps:
              - run: echo "${{ steps.made.outputs.x }}"
        """
    )
    assert undefined_step_references(workflow, "w.yml") == [
        "w.yml: job 'two' step 1: steps.made is not a step of this job"
    ]


def test_job_outputs_may_name_any_step_of_the_job_and_other_job_keys_none() -> None:
    workflow = load(
        """
        jobs:
          build:
            if: steps.made.outputs.x == 'y'
            outputs:
              x: ${{ steps.made.outputs.x }}
              y: ${{ steps.missing.outputs.y }}
            steps:
              - id: made
                run: "true"
        """
    )
    assert undefined_step_references(workflow, "w.yml") == [
        "w.yml: job 'build' if: steps.made: no steps context at job level",
        "w.yml: job 'build' outputs: steps.missing is not a step of this job",
    ]


def test_shell_text_string_literals_and_lookalikes_are_not_references() -> None:
    workflow = load(
        """
        jobs:
          build:
            steps:
              - name: shell
                if: contains(github.event.head_commit.message, 'steps.skip')
                run: echo steps.nothing "${{ format('steps.{0}', 'literal') }}" ${{ github.steps.x }}
        """
    )
    assert undefined_step_references(workflow, "w.yml") == []
