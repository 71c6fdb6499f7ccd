#!/usr/bin/env python3
"""Mutation harness of the Herald conformance suite (see Scripts/mutation/README.md).

Applies each mutant of Scripts/mutation/mutants/*.json to a private copy of the working tree, builds `herald`
incrementally, runs `herald conform` against the embedded (mutated) reference engine and records whether the suite
killed the mutant. Python 3 standard library only; run it through Scripts/mutation/run.sh.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MUTANTS_DIR = REPO / "Scripts" / "mutation" / "mutants"
KILLING_VERDICTS = {"fail", "timeout", "error", "unexpected-pass"}
REQUIRED_KEYS = {"id", "requirement", "chapter", "description", "transport"}
EDIT_KEYS = {"file", "find", "replace"}
OPTIONAL_KEYS = {"kind", "edits", "notes"}
TRANSPORTS = {"tcp", "tls", "ws"}


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; the work copy is restored before the harness stops."""


def on_signal(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def log(text: str) -> None:
    print(text, flush=True)


# MARK: - Mutants


def load_mutants(requirements: dict) -> list[dict]:
    """Reads and checks every mutant file; exits with status 2 on a malformed one."""
    mutants = []
    problems = []
    for path in sorted(MUTANTS_DIR.glob("*.json")):
        try:
            mutant = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            problems.append(f"{path.name}: {error}")
            continue
        keys = set(mutant)
        missing = REQUIRED_KEYS - keys
        unknown = keys - REQUIRED_KEYS - EDIT_KEYS - OPTIONAL_KEYS
        if missing or unknown:
            problems.append(f"{path.name}: missing {sorted(missing)}, unknown {sorted(unknown)}")
            continue
        if "edits" in mutant:
            if keys & EDIT_KEYS:
                problems.append(f"{path.name}: give either edits or file/find/replace")
                continue
            edits = mutant["edits"]
        else:
            edits = [{key: mutant.get(key) for key in EDIT_KEYS}]
        if not edits or any(set(edit) != EDIT_KEYS or not all(isinstance(edit[k], str) for k in EDIT_KEYS)
                            for edit in edits):
            problems.append(f"{path.name}: every edit needs the strings file, find and replace")
            continue
        if any(edit["find"] == edit["replace"] or not edit["find"] for edit in edits):
            problems.append(f"{path.name}: an edit changes nothing")
            continue
        if not path.stem.startswith(mutant["id"]) and mutant["id"] != path.stem:
            problems.append(f"{path.name}: id {mutant['id']!r} does not match the file name")
            continue
        if mutant["transport"] not in TRANSPORTS:
            problems.append(f"{path.name}: transport must be one of {sorted(TRANSPORTS)}")
            continue
        # The Spec may move on under the mutants: a requirement that changed is reported, not fatal.
        requirement = requirements.get(mutant["requirement"])
        if requirement is None:
            print(f"mutation: warning: {path.name}: requirement {mutant['requirement']} is not in "
                  "Spec/requirements.json", file=sys.stderr)
        elif requirement["level"] != "MUST":
            print(f"mutation: warning: {path.name}: {mutant['requirement']} is a {requirement['level']}, not a MUST",
                  file=sys.stderr)
        elif requirement["chapter"].removesuffix(".md") != mutant["chapter"]:
            print(f"mutation: warning: {path.name}: {mutant['requirement']} is in {requirement['chapter']}, "
                  f"not {mutant['chapter']}", file=sys.stderr)
        mutant["edits"] = edits
        mutant["path"] = str(path.relative_to(REPO))
        mutants.append(mutant)
    ids = [m["id"] for m in mutants]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        problems.append(f"duplicate ids: {duplicates}")
    if problems:
        for problem in problems:
            print(f"mutation: {problem}", file=sys.stderr)
        sys.exit(2)
    return mutants


def load_requirements() -> dict:
    data = json.loads((REPO / "Spec" / "requirements.json").read_text(encoding="utf-8"))
    return {r["id"]: r for r in data["requirements"]}


# MARK: - Work copy


def tracked_files() -> list[str]:
    """Git-tracked files plus untracked files that are not ignored (never .build*)."""
    output = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True,
    ).stdout.decode("utf-8")
    return sorted({name for name in output.split("\0") if name and not name.startswith(".build")})


def sync(tree: Path) -> tuple[int, int]:
    """Makes `tree` hold exactly the working tree's files. Only files whose content differs are written, so that an
    incremental build rebuilds what changed (and nothing after a mutant was restored). Returns (written, removed)."""
    tree.mkdir(parents=True, exist_ok=True)
    wanted = tracked_files()
    wanted_set = set(wanted)
    written = 0
    for name in wanted:
        source = REPO / name
        if not source.is_file():  # deleted in the working tree but still in the index
            wanted_set.discard(name)
            continue
        target = tree / name
        data = source.read_bytes()
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.chmod(target, source.stat().st_mode & 0o777)
        written += 1
    # The resolved dependency versions of the working tree, if it has them (ignored by git).
    resolved = REPO / "Package.resolved"
    if resolved.is_file() and (not (tree / "Package.resolved").is_file()
                               or (tree / "Package.resolved").read_bytes() != resolved.read_bytes()):
        (tree / "Package.resolved").write_bytes(resolved.read_bytes())
        written += 1
    wanted_set.add("Package.resolved")
    removed = 0
    for root, dirs, files in os.walk(tree):
        relative_root = Path(root).relative_to(tree)
        dirs[:] = [d for d in dirs if not (relative_root == Path(".") and (d.startswith(".build") or d == ".swiftpm"))]
        for name in files:
            relative = str(relative_root / name) if str(relative_root) != "." else name
            if relative not in wanted_set:
                (Path(root) / name).unlink()
                removed += 1
    return written, removed


def build(tree: Path, timeout: int, log_path: Path) -> bool:
    with open(log_path, "wb") as output:
        try:
            status = subprocess.run(
                ["swift", "build", "--product", "herald"], cwd=tree, stdout=output, stderr=subprocess.STDOUT,
                timeout=timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            output.write(b"\nmutation: build timed out\n")
            return False
    return status == 0


SCENARIOS: Path | None = None  # --scenarios: another corpus than the one built into the mutated herald


def conform(tree: Path, transport: str, timeout: int, json_path: Path, log_path: Path,
            only: list[str] | None = None) -> tuple[str, list[str], str]:
    """Runs the suite (or only the cases `only`); returns (status, failing case ids, detail). status: killed or
    survived."""
    herald = tree / ".build" / "debug" / "herald"
    if json_path.exists():
        json_path.unlink()
    command = [str(herald), "conform", "--transport", transport, "--json", str(json_path)]
    if SCENARIOS is not None:
        command += ["--scenarios", str(SCENARIOS)]
    for case_id in only or []:
        command += ["--filter", case_id]
    with open(log_path, "wb") as output:
        try:
            status = subprocess.run(command, cwd=tree, stdout=output, stderr=subprocess.STDOUT,
                                    timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return "killed", [], f"the suite did not finish within {timeout} s"
    failing: list[str] = []
    if json_path.is_file():
        try:
            report = json.loads(json_path.read_text(encoding="utf-8"))
            failing = [c["id"] for c in report.get("cases", []) if c.get("verdict") in KILLING_VERDICTS]
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            pass
    if status == 0:
        return "survived", failing, ""
    if not failing:
        return "killed", [], f"herald conform exited with status {status} and no failing case (see {log_path})"
    return "killed", failing, ""


# MARK: - Mutation


def occurrences(text: str, snippet: str) -> int:
    return text.count(snippet)


def apply(tree: Path, mutant: dict) -> tuple[dict[Path, bytes], str]:
    """Applies a mutant's edits; returns the original contents to restore and a problem ('' if applied)."""
    originals: dict[Path, bytes] = {}
    texts: dict[Path, str] = {}
    for edit in mutant["edits"]:
        path = tree / edit["file"]
        if not path.is_file():
            return {}, f"{edit['file']} does not exist"
        if path not in texts:
            texts[path] = path.read_text(encoding="utf-8")
        count = occurrences(texts[path], edit["find"])
        if count != 1:
            return {}, f"the snippet occurs {count} times in {edit['file']} (must be exactly once)"
        texts[path] = texts[path].replace(edit["find"], edit["replace"], 1)
    for path, text in texts.items():
        originals[path] = path.read_bytes()
        path.write_text(text, encoding="utf-8")
    return originals, ""


def restore(originals: dict[Path, bytes]) -> None:
    for path, data in originals.items():
        path.write_bytes(data)


def run_mutant(tree: Path, out: Path, mutant: dict, args) -> dict:
    started = time.monotonic()
    result = {
        "id": mutant["id"], "requirement": mutant["requirement"], "chapter": mutant["chapter"],
        "transport": mutant["transport"], "description": mutant["description"], "killedBy": [], "detail": "",
    }
    originals, problem = apply(tree, mutant)
    if problem:
        result.update(status="unapplicable", detail=problem, seconds=round(time.monotonic() - started, 1))
        return result
    try:
        build_log = out / f"{mutant['id']}.build.log"
        build_started = time.monotonic()
        built = build(tree, args.build_timeout, build_log)
        result["buildSeconds"] = round(time.monotonic() - build_started, 1)
        if not built:
            tail = build_log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
            result.update(status="stillborn", detail=" | ".join(tail))
        else:
            conform_started = time.monotonic()
            status, failing, detail = conform(tree, mutant["transport"], args.suite_timeout,
                                              out / f"{mutant['id']}.json", out / f"{mutant['id']}.conform.log")
            result["suiteSeconds"] = round(time.monotonic() - conform_started, 1)
            if status == "killed" and failing and not args.no_confirm:
                # A case that failed while the whole suite ran on a busy machine may have failed for its timing: the
                # failing cases run once more, alone; only those that fail again count.
                _, again, _ = conform(tree, mutant["transport"], args.suite_timeout,
                                      out / f"{mutant['id']}.confirm.json", out / f"{mutant['id']}.confirm.log",
                                      only=failing)
                unconfirmed = [case for case in failing if case not in again]
                failing = [case for case in failing if case in again]
                if unconfirmed:
                    result["unconfirmed"] = unconfirmed
                if not failing:
                    status = "survived"
                    detail = "only failures that did not recur: " + ", ".join(unconfirmed)
            result.update(status=status, killedBy=failing, detail=detail)
    finally:
        restore(originals)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def describe(result: dict) -> str:
    status = result["status"]
    line = f"{result['id']:<44} {result['requirement']:<9} {status.upper():<12}"
    if status == "killed":
        killers = result["killedBy"]
        shown = ", ".join(killers[:4]) + (f" (+{len(killers) - 4})" if len(killers) > 4 else "")
        line += shown or result["detail"]
    elif status in ("stillborn", "unapplicable"):
        line += result["detail"]
    return line + f"  [{result['seconds']:.0f} s]"


def summary(results: list[dict]) -> dict:
    counts = {s: sum(1 for r in results if r["status"] == s)
              for s in ("killed", "survived", "stillborn", "unapplicable")}
    scored = counts["killed"] + counts["survived"]
    counts["score"] = round(100.0 * counts["killed"] / scored, 1) if scored else None
    return counts


def summary_line(counts: dict) -> str:
    line = f"{counts['killed']} killed, {counts['survived']} survived"
    extra = [f"{counts[s]} {s}" for s in ("stillborn", "unapplicable") if counts[s]]
    if extra:
        line += " (" + ", ".join(extra) + ")"
    if counts["score"] is not None:
        line += f"; score {counts['score']:.1f}%"
    return line


def markdown(results: list[dict]) -> str:
    """The results as a Markdown table (for Benchmarks/mutation/RESULTS.md)."""
    lines = ["| Mutant | Requirement | Chapter | Result | Killed by |", "|---|---|---|---|---|"]
    for result in results:
        killers = result["killedBy"]
        if result["status"] == "killed":
            shown = ", ".join(f"`{k}`" for k in killers[:3]) + (f" (+{len(killers) - 3})" if len(killers) > 3 else "")
            shown = shown or result["detail"]
        else:
            shown = result["detail"].replace("|", "\\|")
        lines.append(f"| `{result['id']}` | {result['requirement']} | {result['chapter']} | {result['status']} | "
                     f"{shown} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="Scripts/mutation/run.sh", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated mutant ids (or id prefixes such as 012) to run")
    parser.add_argument("--scenarios", help="run this scenario directory instead of the corpus built into herald "
                        "(e.g. an older corpus, to score a new mutant against the suite as it was)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true",
                        help="check that every selected mutant applies to the working tree (no build) and exit")
    parser.add_argument("--work", default=str(REPO / ".build-mutation"),
                        help="persistent work directory (default .build-mutation)")
    parser.add_argument("--results", help="results JSON file (default WORK/results.json)")
    parser.add_argument("--build-timeout", type=int, default=1800, help="seconds per build (default 1800)")
    parser.add_argument("--suite-timeout", type=int, default=600, help="seconds per suite run (default 600)")
    parser.add_argument("--no-confirm", action="store_true",
                        help="count every failing case as a killer, without running the failing cases once more")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the suite run on the unmutated engine (it must pass, or no mutant can be judged)")
    args = parser.parse_args()
    global SCENARIOS
    if args.scenarios:
        SCENARIOS = Path(args.scenarios).resolve()
        if not SCENARIOS.is_dir():
            print(f"mutation: --scenarios {args.scenarios} is not a directory", file=sys.stderr)
            return 2

    requirements = load_requirements()
    mutants = load_mutants(requirements)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        selected = [m for m in mutants if any(m["id"] == w or m["id"].startswith(w) for w in wanted)]
        unknown = [w for w in wanted if not any(m["id"] == w or m["id"].startswith(w) for m in mutants)]
        if unknown:
            print(f"mutation: no mutant matches {', '.join(unknown)}", file=sys.stderr)
            return 2
        mutants = selected
    if args.list:
        for mutant in mutants:
            log(f"{mutant['id']:<44} {mutant['requirement']:<9} {mutant['chapter']:<22} {mutant['description']}")
        log(f"{len(mutants)} mutants")
        return 0

    if args.check:
        bad = 0
        for mutant in mutants:
            problems = []
            texts: dict[str, str] = {}
            for edit in mutant["edits"]:
                path = REPO / edit["file"]
                if edit["file"] not in texts:
                    texts[edit["file"]] = path.read_text(encoding="utf-8") if path.is_file() else ""
                count = occurrences(texts[edit["file"]], edit["find"])
                if count != 1:
                    problems.append(f"the snippet occurs {count} times in {edit['file']}")
                else:
                    texts[edit["file"]] = texts[edit["file"]].replace(edit["find"], edit["replace"], 1)
            if problems:
                bad += 1
                log(f"{mutant['id']:<44} UNAPPLICABLE {'; '.join(problems)}")
        log(f"{len(mutants) - bad} of {len(mutants)} mutants apply to the working tree")
        return 1 if bad else 0

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    work = Path(args.work).resolve()
    tree = work / "tree"
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    results_path = Path(args.results).resolve() if args.results else work / "results.json"
    started_at = datetime.datetime.now(datetime.timezone.utc)
    wall = time.monotonic()
    results: list[dict] = []
    baseline: dict = {}

    def write_results(complete: bool) -> None:
        counts = summary(results)
        document = {
            "startedAt": started_at.isoformat(timespec="seconds"),
            "wallSeconds": round(time.monotonic() - wall, 1),
            "complete": complete,
            "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                                     text=True).stdout.strip(),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
            "baseline": baseline,
            "summary": counts,
            "results": results,
        }
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        results_path.with_suffix(".md").write_text(markdown(results), encoding="utf-8")

    try:
        written, removed = sync(tree)
        log(f"mutation: work copy {tree} ({written} files written, {removed} removed)")
        log("mutation: building herald (unmutated)")
        if not build(tree, args.build_timeout, out / "baseline.build.log"):
            print(f"mutation: the unmutated tree does not build; see {out / 'baseline.build.log'}", file=sys.stderr)
            return 1
        if not args.no_baseline:
            for transport in sorted({m["transport"] for m in mutants}):
                status, failing, detail = conform(tree, transport, args.suite_timeout,
                                                  out / f"baseline-{transport}.json",
                                                  out / f"baseline-{transport}.conform.log")
                baseline[transport] = {"status": "pass" if status == "survived" else "fail", "failing": failing}
                if status != "survived":
                    print(f"mutation: the suite fails on the unmutated engine over {transport}: "
                          f"{', '.join(failing) or detail}", file=sys.stderr)
                    return 1
                log(f"mutation: baseline over {transport} passes")
        for index, mutant in enumerate(mutants, 1):
            result = run_mutant(tree, out, mutant, args)
            results.append(result)
            log(f"[{index}/{len(mutants)}] " + describe(result))
            write_results(complete=False)
    except Interrupted as interruption:
        log(f"mutation: interrupted ({interruption}); the work copy is restored")
        sync(tree)
        write_results(complete=False)
        return 130
    sync(tree)  # belt and braces: the work copy equals the working tree again
    write_results(complete=True)
    counts = summary(results)
    log(summary_line(counts))
    log(f"mutation: wall time {time.monotonic() - wall:.0f} s; results in {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
