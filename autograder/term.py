"""The term's grade export: every assignment of every student, combined by the course's policy.

    python -m autograder.term                       # course/gradebook.db + course/term.json
    python -m autograder.term --out out/term.csv --course-root path/to/course --policy my_term.json

The policy (``course/term.json``) lists components, each a group of assignments with a weight:

- ``"choose": 1`` counts the best one of the group: seed 004's course let students do *either* the
  pruning or the binarized-network assignment, so A1 and A2 form one component and a student need
  submit only one (when both are graded, the better one counts and the CSV says which);
- ``"optional": true`` adds its points on top (the paper review): its weight is not in the
  denominator, and the total is capped at ``cap`` percent.

Scores come from nbgrader's gradebook of the course root (automatic and manual points, as Formgrader
shows them), never from the notebooks. A counted submission still waiting for manual grading is
flagged in the ``pending`` column, so a term grade is never exported as final by mistake.
"""
from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path

from .release import REPO

DEFAULT_POLICY = REPO / "course" / "term.json"
DEFAULT_ROOT = REPO / "course"


@dataclass(frozen=True)
class Component:
    name: str
    assignments: tuple[str, ...]
    weight: float
    choose: int | None = None  # None: all assignments count (their mean)
    optional: bool = False

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise ValueError("every component needs a name")
        if not self.assignments or not all(isinstance(a, str) and a for a in self.assignments):
            raise ValueError(f"component {self.name!r}: assignments must be a non-empty list of names")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not self.weight > 0:
            raise ValueError(f"component {self.name!r}: weight must be a number > 0, got {self.weight!r}")
        if self.choose is not None and not (isinstance(self.choose, int) and 1 <= self.choose <= len(self.assignments)):
            raise ValueError(f"component {self.name!r}: choose must be an int in 1..{len(self.assignments)}, "
                             f"got {self.choose!r}")


@dataclass(frozen=True)
class Policy:
    components: tuple[Component, ...]
    cap: float = 100.0

    @classmethod
    def load(cls, path: str | Path = DEFAULT_POLICY) -> "Policy":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no term policy at {path} (see course/term.json for the format)")
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
        unknown = set(raw) - {"components", "cap", "about"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        comps = []
        for c in raw.get("components", []):
            bad = set(c) - {"name", "assignments", "weight", "choose", "optional"}
            if bad:
                raise ValueError(f"{path}: component {c.get('name')!r} has unknown keys {sorted(bad)}")
            comps.append(Component(c.get("name", ""), tuple(c.get("assignments", ())), c.get("weight", 0),
                                   c.get("choose"), bool(c.get("optional", False))))
        return cls(tuple(comps), float(raw.get("cap", 100.0)))

    def __post_init__(self):
        if not any(not c.optional for c in self.components):
            raise ValueError("the term policy needs at least one required (non-optional) component")
        seen = [a for c in self.components for a in c.assignments]
        if len(seen) != len(set(seen)):
            raise ValueError("an assignment appears in two components of the term policy")

    @property
    def assignments(self) -> list[str]:
        return [a for c in self.components for a in c.assignments]


def gradebook_scores(root: Path, assignments: list[str]) -> dict[str, dict[str, dict]]:
    """``{student: {assignment: {score, max, pending}}}`` from the course root's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    db = Path(root) / "gradebook.db"
    if not db.is_file():
        raise FileNotFoundError(f"no gradebook at {db}: grade some submissions first "
                                "(python -m autograder.grade ASSIGNMENT SUBMISSIONS)")
    out: dict[str, dict[str, dict]] = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        known = {a.name: a for a in gb.assignments}
        for student in gb.students:
            row = out.setdefault(student.id, {})
            for name in assignments:
                if name not in known:
                    continue
                try:
                    sub = gb.find_submission(name, student.id)
                except MissingEntry:
                    continue
                row[name] = {"score": float(sub.score or 0.0), "max": float(known[name].max_score or 0.0),
                             "pending": bool(sub.needs_manual_grade)}
    return out


def _percent(entry: dict | None) -> float:
    if not entry or entry["max"] <= 0:
        return 0.0
    return 100.0 * entry["score"] / entry["max"]


def combine(policy: Policy, scores: dict[str, dict]) -> dict:
    """One student's term record: each component's percent, what counted, the total and pending flags."""
    record, notes, total, pending = {}, [], 0.0, False
    for comp in policy.components:
        done = [a for a in comp.assignments if a in scores]
        ranked = sorted(done, key=lambda a: (-_percent(scores[a]), comp.assignments.index(a)))
        if comp.choose is None:
            counted = list(comp.assignments)
            pct = sum(_percent(scores.get(a)) for a in counted) / len(counted)
        else:
            counted = ranked[:comp.choose]
            pct = sum(_percent(scores[a]) for a in counted) / comp.choose
            if len(done) > comp.choose:
                notes.append(f"{comp.name}: {len(done)} submitted, counted {', '.join(counted)}")
        pending |= any(scores.get(a, {}).get("pending", False) for a in counted)
        record[comp.name] = {"percent": pct, "counted": counted}
        total += comp.weight * pct / 100.0
    required = sum(c.weight for c in policy.components if not c.optional)
    record["total_percent"] = min(policy.cap, 100.0 * total / required)
    record["pending"] = pending
    record["notes"] = notes
    return record


def export(out: str | Path, *, root: str | Path = DEFAULT_ROOT, policy: str | Path | Policy = DEFAULT_POLICY) -> Path:
    """Write the term CSV (one row per student of the gradebook) and return its path."""
    policy = policy if isinstance(policy, Policy) else Policy.load(policy)
    book = gradebook_scores(Path(root), policy.assignments)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = ["student"]
    for a in policy.assignments:
        header += [f"{a}_score", f"{a}_max"]
    for c in policy.components:
        header += [f"{c.name}_percent", f"{c.name}_counted"]
    header += ["total_percent", "pending", "notes"]
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for student in sorted(book):
            scores = book[student]
            rec = combine(policy, scores)
            row = [student]
            for a in policy.assignments:
                e = scores.get(a)
                row += ["" if e is None else f"{e['score']:g}", "" if e is None else f"{e['max']:g}"]
            for c in policy.components:
                row += [f"{rec[c.name]['percent']:.2f}", " ".join(rec[c.name]["counted"])]
            row += [f"{rec['total_percent']:.2f}", int(rec["pending"]), "; ".join(rec["notes"])]
            writer.writerow(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m autograder.term", description=__doc__.split("\n\n")[0])
    ap.add_argument("--course-root", default=str(DEFAULT_ROOT), help="nbgrader course root with gradebook.db")
    ap.add_argument("--policy", default=str(DEFAULT_POLICY), help="term policy JSON (course/term.json)")
    ap.add_argument("--out", default=str(REPO / "out" / "term_grades.csv"))
    args = ap.parse_args(argv)
    path = export(args.out, root=args.course_root, policy=args.policy)
    print(f"term grades written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
