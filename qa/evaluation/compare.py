"""Two `qa eval` runs side by side: what changed, on which questions, and whether the
difference is more than chance.

A question is *right* when the answer is what the set asks for: an answerable question whose
cited sentence holds a gold answer (containment), or an unanswerable one that was refused.
Flips of right/wrong and of exact match are tested with the exact McNemar test (a binomial
test on the discordant pairs, scipy); F1 differences with a paired bootstrap interval of the
mean difference (scipy.stats.bootstrap, 10,000 resamples, fixed seed).

>>> compare(load_run(Path("a.json")), load_run(Path("b.json")))["fixed"]  # doctest: +SKIP
[{'id': 'f07', 'question': '...'}]
"""

import json
from pathlib import Path

from qa.core.errors import InputError

ALPHA = 0.05


def load_run(path: Path) -> dict:
    """A run written by `qa eval` (`<dataset>-<engine>-<stamp>.json`)."""
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(run["questions"], list) or not isinstance(run["metrics"], dict):
            raise TypeError("'questions' must be a list and 'metrics' an object")
        if not all(isinstance(q, dict) and "id" in q for q in run["questions"]):
            raise TypeError("every question must be an object with an 'id'")
    except (OSError, UnicodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a `qa eval` run ({exc})") from None
    except RecursionError:
        raise InputError(f"{path} is not a `qa eval` run (nested too deeply)") from None
    run["path"] = str(path)
    return run


def latest_before(run: dict, results_dir: Path) -> dict:
    """The newest earlier run of the same dataset and engine in `results_dir`."""
    prefix = f"{run['dataset']}-{run['engine']}-"
    earlier = sorted(
        (path.stem[len(prefix) :], path)
        for path in results_dir.glob(f"{prefix}*.json")
        if path.stem[len(prefix) :] < run["date"]
    )
    if not earlier:
        raise InputError(f"no earlier {run['dataset']} run of {run['engine']} in {results_dir}")
    return load_run(earlier[-1][1])


def right(record: dict) -> bool:
    if record.get("unanswerable"):
        return bool(record.get("refused"))
    return bool(record.get("containment"))


def compare(before: dict, after: dict) -> dict:
    """Metric deltas, per-question flips and paired significance of `after` against `before`;
    an InputError when a record is not as `qa eval` writes it."""
    try:
        return _compare(before, after)
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        names = f"{Path(before['path']).name} and {Path(after['path']).name}"
        raise InputError(
            f"{names} cannot be compared: a record is not as `qa eval` writes it "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _compare(before: dict, after: dict) -> dict:
    from scipy.stats import binomtest, bootstrap

    a = {r["id"]: r for r in before["questions"]}
    b = {r["id"]: r for r in after["questions"]}
    shared = [i for i in a if i in b]
    if not shared:
        raise InputError("the two runs share no question ids: they are not the same set")
    metrics = {
        name: (before["metrics"].get(name), after["metrics"].get(name))
        for name in dict.fromkeys([*before["metrics"], *after["metrics"]])
    }

    def flips(score) -> tuple[list[str], list[str]]:
        fixed = [i for i in shared if not score(a[i]) and score(b[i])]
        broken = [i for i in shared if score(a[i]) and not score(b[i])]
        return fixed, broken

    def mcnemar(fixed: list, broken: list) -> float:
        discordant = len(fixed) + len(broken)
        return 1.0 if discordant == 0 else binomtest(len(fixed), discordant, 0.5).pvalue

    fixed, broken = flips(right)
    em_fixed, em_broken = flips(lambda r: r.get("exact_match", 0) >= 1)
    answerable = [i for i in shared if not a[i].get("unanswerable")]
    differences = [b[i].get("f1", 0.0) - a[i].get("f1", 0.0) for i in answerable]
    if len(set(differences)) > 1:
        interval = bootstrap(
            (differences,), _mean, n_resamples=10_000, random_state=0, method="percentile"
        ).confidence_interval
        f1_interval = (float(interval.low), float(interval.high))
    else:  # no spread: every question moved by the same amount (often 0)
        f1_interval = (differences[0], differences[0]) if differences else (0.0, 0.0)

    def listed(ids: list[str]) -> list[dict]:
        return [{"id": i, "question": b[i].get("question", "")} for i in ids]

    return {
        "changes": run_changes(before.get("run") or {}, after.get("run") or {}),
        "before": before["path"],
        "after": after["path"],
        "dataset": after["dataset"],
        "engines": (before["engine"], after["engine"]),
        "questions": len(shared),
        "metrics": metrics,
        "fixed": listed(fixed),
        "broken": listed(broken),
        "still_wrong": listed([i for i in shared if not right(a[i]) and not right(b[i])]),
        "right_p": mcnemar(fixed, broken),
        "em": {"fixed": len(em_fixed), "broken": len(em_broken), "p": mcnemar(em_fixed, em_broken)},
        "f1": {
            "mean_difference": sum(differences) / len(differences) if differences else 0.0,
            "interval": f1_interval,
        },
    }


def run_changes(before: dict, after: dict) -> list[str]:
    """What differs between the two runs' code, settings, models and index (when recorded)."""
    if not before or not after:
        return ["(a run does not record its commit and settings: written before they were kept)"]
    changes = []
    for key in ("commit", "engine", "embedder"):
        if before.get(key) != after.get(key):
            changes.append(f"{key}: {before.get(key)} → {after.get(key)}")
    for group in ("settings", "models"):
        old, new = before.get(group) or {}, after.get(group) or {}
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                changes.append(f"{group[:-1]} {name}: {old.get(name)} → {new.get(name)}")
    return changes or ["nothing: same commit, settings, models and index"]


def _mean(sample, axis=-1):
    return sample.mean(axis=axis)


def markdown(result: dict) -> str:
    """The comparison as Markdown: deltas, significance, then the flipped questions."""
    lines = [
        f"# {result['dataset']}: {Path(result['before']).name} → {Path(result['after']).name}",
        "",
        f"{result['questions']} questions in both runs.",
        "",
        "What changed between the runs:",
        "",
        *[f"- {change}" for change in result["changes"]],
        "",
        "| metric | before | after | change |",
        "|---|---|---|---|",
    ]
    for name, (old, new) in result["metrics"].items():
        change = (
            f"{new - old:+.4g}"
            if isinstance(old, (int, float)) and isinstance(new, (int, float))
            else ""
        )
        lines.append(f"| {name} | {_cell(old)} | {_cell(new)} | {change} |")
    fixed, broken = len(result["fixed"]), len(result["broken"])
    low, high = result["f1"]["interval"]
    lines += [
        "",
        "## Is it more than chance?",
        "",
        f"- right (containment, or a refusal where there is no answer): {fixed} fixed, "
        f"{broken} broken; exact McNemar p = {result['right_p']:.3g} "
        f"({_verdict(result['right_p'])})",
        f"- exact match: {result['em']['fixed']} fixed, {result['em']['broken']} broken; "
        f"p = {result['em']['p']:.3g} ({_verdict(result['em']['p'])})",
        f"- F1: mean change {result['f1']['mean_difference']:+.3f}, 95% paired bootstrap "
        f"interval [{low:+.3f}, {high:+.3f}] "
        f"({'includes 0: not significant' if low <= 0 <= high else 'excludes 0'})",
    ]
    for title, key in (("Fixed", "fixed"), ("Broken", "broken"), ("Still wrong", "still_wrong")):
        lines += ["", f"## {title} ({len(result[key])})", ""]
        lines += [f"- `{q['id']}` {q['question']}" for q in result[key]] or ["(none)"]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _verdict(p: float) -> str:
    return "significant at 0.05" if p < ALPHA else "not significant at 0.05"
