"""An offline ProactiveBench judge: accepts or rejects (history, offered task | silence).

ProactiveBench's official scores come from a reward model that reads the observation
history and what the agent did (a proposed task, or silence) and says whether the user
would accept it. No such model is served here, so this module trains one on
`reward_data/train_data.jsonl` (1176 human judgements over 232 histories), on CPU, in
seconds once the texts are embedded. It is an evaluation instrument only: nothing in the
runtime imports it, and it uses none of the gate's heads (only the bundled MiniLM
sentence encoder, the same one anyone can load), so the gate never scores itself.

Features of a judged pair, every one a number (`FEATURES`):

* silence flag, history length, task length;
* how close the task is to the latest events (MiniLM cosine with the last event and the
  best of the last three);
* neighbours in the training judgements: the `K` training histories nearest to this one
  (cosine of a recency-weighted mean of the last three events' embeddings) and how often
  their annotators needed help (`help_needed`), weighted by a sharp power of the
  similarity; for an offered task, the `K` nearest training *pairs* (history similarity
  times task similarity) and how often those tasks were accepted;
* the same neighbour shares split by silence/offer, so that one linear model can weigh
  them differently for the two kinds of verdict.

A logistic regression (standardised features, C = 1) turns them into P(valid).

Training rows carry the neighbour features twice: once with only the row itself left
out (what a judged history looks like when its recording is in the training data, as on
the official test split, the eight test recordings and the peers' traces), once with the
row's whole recording left out (a history never seen). The model thus learns how far to
trust a neighbour from how similar it is (the `nearest` features), instead of trusting
an exact-history match it will not find on a new recording. Recordings are the connected
components of histories that share an event.

Validated three ways (`validate`): agreement with the annotators on the official test
split; the same with every test history's whole recording removed from training
(history-disjoint, leave-one-recording-out); and the 15 peers' traces judged by it next
to the published scores (`peer_agreement`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evals.gate_as_judge import (
    CATEGORIES,
    PUBLISHED_F1,
    Agreement,
    agreement,
    agreement_header,
    agreement_row,
    published_rows,
)
from evals.judges import Judge, JudgeCase
from evals.metrics import JudgedEvent, score
from evals.runtime_replay import TraceStep, judged_events

Embed = Callable[[list[str]], np.ndarray]
EventKey = tuple[str, str]

K = 5
SHARPNESS = 8.0
"""Neighbour weight = similarity ** SHARPNESS: an identical history outweighs a merely
similar one by far, a similar one still counts where nothing identical exists."""
RECENCY = (1.0, 0.5, 0.25)
"""Weights of the last, second-last and third-last event in a history's vector."""
C = 1.0
RELEVANCE_CAP = 0.6
"""Task-event cosine beyond this adds nothing: in the training judgements acceptance
rises with it up to about 0.6 (0.20 below 0.2, 0.45 at 0.4-0.6) and then stays flat
(0.57 at 0.6-0.8). Without the cap a task that merely restates the event (cosine near
1, as far outside the training pairs as a task can be) was accepted everywhere."""
MODEL = "lr"
AUGMENT = True
BALANCE = True
THRESHOLD = 0.5

FEATURES = (
    "silence",
    "history_length",
    "task_words",
    "task_vs_last_event",
    "task_vs_recent_events",
    "neighbour_help_needed",
    "nearest_history",
    "silence_x_neighbour_help_needed",
    "offer_x_neighbour_help_needed",
    "neighbour_task_accepted",
    "nearest_pair",
    "nearest_history_x_neighbour_help_needed",
    "task_copies_event",
)
_WORD = re.compile(r"[a-z0-9']{3,}")


def _copied(task: str, event: str) -> float:
    """Share of the task's words that the event already says (a restatement copies most)."""
    words = set(_WORD.findall(task.lower()))
    return len(words & set(_WORD.findall(event.lower()))) / len(words) if words else 0.0


def event_key(observation: dict[str, Any]) -> EventKey:
    """(time, text) of an observation, the time normalised so that "1717337280.0" and
    "1717337280" (a history rebuilt from parsed events) are the same event."""
    raw = str(observation["time"]).strip()
    try:
        time = f"{float(raw):.3f}"
    except ValueError:
        time = raw
    return time, str(observation["event"])


@dataclass(frozen=True)
class Example:
    """One human judgement: the history, the offered task (None: silence), the verdict."""

    history: tuple[dict[str, str], ...]
    task: str | None
    valid: bool
    help_needed: bool = False
    category: str = ""

    @property
    def keys(self) -> tuple[EventKey, ...]:
        return tuple(event_key(o) for o in self.history)


def load_examples(path: Path) -> list[Example]:
    examples = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        examples.append(
            Example(
                tuple({"time": str(o["time"]), "event": o["event"]} for o in row["obs"]),
                row["pred_task"] or None,
                bool(row["valid"]),
                bool(row["help_needed"]),
                row["category"],
            )
        )
    return examples


def recordings(histories: Iterable[Sequence[EventKey]]) -> list[int]:
    """A recording id per history: histories sharing an event (directly or through
    others) belong to the same recording."""
    histories = list(histories)
    parent: dict[EventKey, EventKey] = {}

    def find(x: EventKey) -> EventKey:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for keys in histories:
        for k in keys[1:]:
            parent[find(k)] = find(keys[0])
    roots: dict[EventKey, int] = {}
    return [roots.setdefault(find(keys[0]), len(roots)) if keys else -1 for keys in histories]


class Embeddings:
    """Text -> unit vector, batched through `embed`, remembered (and saved to `path`)."""

    def __init__(self, embed: Embed, path: Path | None = None) -> None:
        self._embed = embed
        self._path = path
        self._vectors: dict[str, np.ndarray] = {}
        self._saved = 0
        if path is not None and path.is_file():
            with np.load(path) as data:
                texts = json.loads(bytes(data["texts"]).decode())
                self._vectors = dict(zip(texts, data["vectors"], strict=True))
            self._saved = len(self._vectors)

    def add(self, texts: Iterable[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        for start in range(0, len(missing), 256):
            chunk = missing[start : start + 256]
            for text, vector in zip(chunk, self._embed(chunk), strict=True):
                self._vectors[text] = np.asarray(vector, dtype=np.float32)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.add(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])

    def save(self) -> None:
        if self._path is None or len(self._vectors) == self._saved:
            return
        texts = list(self._vectors)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            texts=np.frombuffer(json.dumps(texts).encode(), dtype=np.uint8),
            vectors=np.stack([self._vectors[t] for t in texts]),
        )
        tmp.replace(self._path)
        self._saved = len(texts)


@dataclass
class _Pairs:
    """Vectors of a batch of (history, task) pairs."""

    history: np.ndarray
    """Recency-weighted history vectors, unit norm."""
    recent: np.ndarray
    """(n, 3, d): the last three events' vectors, most recent first (zeros where absent)."""
    task: np.ndarray
    """Task vectors; zeros for silence."""
    silence: np.ndarray
    lengths: np.ndarray
    task_words: np.ndarray
    copied: np.ndarray


def _pairs(
    embeddings: Embeddings, histories: Sequence[Sequence[str]], tasks: Sequence[str | None]
) -> _Pairs:
    embeddings.add([t for h in histories for t in h[-len(RECENCY) :]])
    embeddings.add([t for t in tasks if t])
    n = len(histories)
    dim = len(embeddings(["."])[0])
    recent = np.zeros((n, len(RECENCY), dim), dtype=np.float32)
    for i, h in enumerate(histories):
        last = list(h[-len(RECENCY) :])[::-1]
        if last:
            recent[i, : len(last)] = embeddings(last)
    history = np.einsum("nkd,k->nd", recent, np.array(RECENCY, dtype=np.float32))
    history /= np.maximum(np.linalg.norm(history, axis=1, keepdims=True), 1e-9)
    task = np.zeros((n, dim), dtype=np.float32)
    for i, t in enumerate(tasks):
        if t:
            task[i] = embeddings([t])[0]
    return _Pairs(
        history=history,
        recent=recent,
        task=task,
        silence=np.array([not t for t in tasks]),
        lengths=np.array([len(h) for h in histories], dtype=float),
        task_words=np.array([len(t.split()) if t else 0 for t in tasks], dtype=float),
        copied=np.array(
            [_copied(t, h[-1]) if t and h else 0.0 for h, t in zip(histories, tasks, strict=True)]
        ),
    )


def _weighted(values: np.ndarray, sims: np.ndarray) -> tuple[float, float]:
    """Share of `values` among the K most similar, weighted by similarity ** SHARPNESS,
    and the top similarity. (0.5, 0) when nothing is comparable."""
    top = np.argsort(-sims, kind="stable")[:K]
    top = top[sims[top] > -1.0]
    if top.size == 0:
        return 0.5, 0.0
    w = np.maximum(sims[top], 0.0) ** SHARPNESS + 1e-12
    return float((w * values[top]).sum() / w.sum()), float(max(sims[top[0]], 0.0))


def _features(
    query: _Pairs,
    ref: _Pairs,
    ref_help: np.ndarray,
    ref_valid: np.ndarray,
    exclude: np.ndarray | None,
) -> np.ndarray:
    """Feature rows of `query` against the reference judgements; `exclude[i, j]` hides
    reference j from query i."""
    history_sim = query.history @ ref.history.T
    task_sim = query.task @ ref.task.T
    offered_ref = ~ref.silence
    rows = []
    for i in range(len(query.history)):
        hs = history_sim[i].copy()
        if exclude is not None:
            hs[exclude[i]] = -2.0
        help_share, nearest_history = _weighted(ref_help, hs)
        silence = bool(query.silence[i])
        if silence:
            accepted, nearest_pair, vs_last, vs_recent = 0.0, 0.0, 0.0, 0.0
        else:
            pair = np.where(offered_ref & (hs > -2.0), hs * task_sim[i], -2.0)
            accepted, nearest_pair = _weighted(ref_valid, pair)
            recent = np.minimum(query.recent[i] @ query.task[i], RELEVANCE_CAP)
            vs_last, vs_recent = float(recent[0]), float(recent.max())
        rows.append(
            [
                float(silence),
                math.log1p(query.lengths[i]),
                math.log1p(query.task_words[i]),
                vs_last,
                vs_recent,
                help_share,
                nearest_history,
                help_share if silence else 0.0,
                0.0 if silence else help_share,
                accepted,
                nearest_pair,
                nearest_history * help_share,
                float(query.copied[i]),
            ]
        )
    return np.array(rows, dtype=float)


@dataclass
class OfflineJudge:
    """The trained judge. `accepts(case)` is the `evals.judges.Judge` protocol."""

    embeddings: Embeddings
    reference: _Pairs
    help_needed: np.ndarray
    valid: np.ndarray
    model: Any
    """The fitted classifier (sklearn: `predict_proba` over `FEATURES`)."""
    low: np.ndarray
    high: np.ndarray
    """Each feature is clipped to the range seen in training: a judged pair beyond it (a
    task that restates the event word for word) gets no more credit than the most extreme
    training pair, instead of a linear extrapolation."""
    trained_on: int
    name: str = "offline judge (MiniLM + neighbours, LR)"
    threshold: float = THRESHOLD
    _cache: dict[tuple[tuple[EventKey, ...], str | None], float] = field(default_factory=dict)

    def probabilities(self, cases: Sequence[JudgeCase]) -> np.ndarray:
        """P(the annotators would accept what the agent did) per case."""
        keys = [(tuple(event_key(o) for o in c.history), c.task) for c in cases]
        todo = [i for i, k in enumerate(dict.fromkeys(keys)) if k not in self._cache]
        unique = list(dict.fromkeys(keys))
        todo_keys = [unique[i] for i in todo]
        if todo_keys:
            by_key = {k: c for k, c in zip(keys, cases, strict=True)}
            pending = [by_key[k] for k in todo_keys]
            query = _pairs(
                self.embeddings,
                [[o["event"] for o in c.history] for c in pending],
                [c.task for c in pending],
            )
            x = _features(query, self.reference, self.help_needed, self.valid, None)
            p_valid = self.model.predict_proba(np.clip(x, self.low, self.high))[:, 1]
            for k, p in zip(todo_keys, p_valid, strict=True):
                self._cache[k] = float(p)
        return np.array([self._cache[k] for k in keys])

    def prefetch(self, cases: Sequence[JudgeCase]) -> None:
        """Judge many cases in one batch (embedding their texts together), so that the
        `accepts` calls that follow are lookups."""
        if cases:
            self.probabilities(cases)

    def accepts(self, case: JudgeCase) -> bool:
        return bool(self.probabilities([case])[0] >= self.threshold)

    def verdicts(self, cases: Sequence[JudgeCase]) -> list[bool]:
        return [bool(p >= self.threshold) for p in self.probabilities(cases)]

    def save(self) -> None:
        self.embeddings.save()


def _case(example: Example) -> JudgeCase:
    return JudgeCase(example.history, example.task, example.help_needed)


def train_judge(
    examples: Sequence[Example],
    embeddings: Embeddings,
    *,
    augment: bool = AUGMENT,
    balance: bool = BALANCE,
) -> OfflineJudge:
    """Fit the judge on `examples` (deterministic: no sampling anywhere)."""
    pairs = _pairs(
        embeddings, [[o["event"] for o in e.history] for e in examples], [e.task for e in examples]
    )
    help_needed = np.array([e.help_needed for e in examples], dtype=float)
    valid = np.array([e.valid for e in examples], dtype=float)
    n = len(examples)
    itself = np.eye(n, dtype=bool)
    x = _features(pairs, pairs, help_needed, valid, itself)
    y = valid.astype(bool)
    weight = np.ones(n)
    if balance:
        categories = [e.category.split(" (")[0] for e in examples]
        counts = {c: categories.count(c) for c in set(categories)}
        weight = np.array([n / (len(counts) * counts[c]) for c in categories])
    if augment:
        rec = np.array(recordings(e.keys for e in examples))
        unseen = rec[:, None] == rec[None, :]
        x = np.vstack([x, _features(pairs, pairs, help_needed, valid, unseen)])
        y = np.concatenate([y, y])
        weight = np.concatenate([weight, weight])
    model = _classifier(MODEL)
    model.fit(x, y, **{_last_step(model) + "sample_weight": weight})
    return OfflineJudge(
        embeddings=embeddings,
        reference=pairs,
        help_needed=help_needed,
        valid=valid,
        model=model,
        low=x.min(axis=0),
        high=x.max(axis=0),
        trained_on=n,
    )


def _classifier(kind: str) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "lr":
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    return HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.05, max_depth=3, min_samples_leaf=20, random_state=0
    )


def _last_step(model: Any) -> str:
    """The fit-parameter prefix that routes sample weights to a pipeline's last step."""
    steps = getattr(model, "steps", None)
    return f"{steps[-1][0]}__" if steps else ""


def coefficients(judge: OfflineJudge) -> dict[str, float]:
    """Standardised coefficients of a logistic-regression judge ({} for other models)."""
    steps = getattr(judge.model, "steps", None)
    if not steps:
        return {}
    return {f: round(float(c), 4) for f, c in zip(FEATURES, steps[-1][1].coef_[0], strict=True)}


def data_fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def train_path(root: Path) -> Path:
    return root / "reward_data" / "train_data.jsonl"


def embeddings_for(root: Path, embed: Embed, tag: str, cache_dir: Path | None) -> Embeddings:
    """Embeddings through `embed` (an encoder named `tag`), remembered in `cache_dir` (one
    file per encoder and training data) so that a rerun skips the encoder."""
    path = None
    if cache_dir is not None:
        path = cache_dir / f"judge-embeddings-{tag}-{data_fingerprint(train_path(root))}.npz"
    return Embeddings(embed, path)


class DisjointJudge:
    """The offline judge, trained anew for each judged recording without any training
    judgement of that recording: a recording's events are never judged by a model that
    learnt from them. (Every event of the eight test recordings is in some training
    history; a judge trained on all of them scores the peers on what it was taught.)

    A judged case's recording is every training recording (`recordings`) that shares an
    event with its history; one judge is trained per distinct set and kept."""

    name = "offline judge (MiniLM + neighbours, LR), recording-disjoint"

    def __init__(self, examples: Sequence[Example], embeddings: Embeddings) -> None:
        self._examples = list(examples)
        self._embeddings = embeddings
        self._recording = recordings(e.keys for e in self._examples)
        self._recordings_of: dict[EventKey, set[int]] = {}
        for example, recording in zip(self._examples, self._recording, strict=True):
            for key in example.keys:
                self._recordings_of.setdefault(key, set()).add(recording)
        self._judges: dict[frozenset[int], OfflineJudge] = {}

    def judge_for(self, case: JudgeCase) -> OfflineJudge:
        """The judge trained without the recordings `case`'s history belongs to."""
        held_out = frozenset(
            r for o in case.history for r in self._recordings_of.get(event_key(o), ())
        )
        if held_out not in self._judges:
            kept = [
                e for e, r in zip(self._examples, self._recording, strict=True) if r not in held_out
            ]
            self._judges[held_out] = train_judge(kept, self._embeddings)
        return self._judges[held_out]

    def prefetch(self, cases: Sequence[JudgeCase]) -> None:
        by_judge: dict[int, tuple[OfflineJudge, list[JudgeCase]]] = {}
        for case in cases:
            judge = self.judge_for(case)
            by_judge.setdefault(id(judge), (judge, []))[1].append(case)
        for judge, batch in by_judge.values():
            judge.prefetch(batch)

    def accepts(self, case: JudgeCase) -> bool:
        return self.judge_for(case).accepts(case)

    def verdicts(self, cases: Sequence[JudgeCase]) -> list[bool]:
        self.prefetch(cases)
        return [self.accepts(case) for case in cases]

    def save(self) -> None:
        self._embeddings.save()


def build_judge(root: Path, embeddings: Embeddings) -> DisjointJudge:
    """The judge every evaluation uses: trained on `root/reward_data/train_data.jsonl`
    without the recording of whatever it judges."""
    return DisjointJudge(load_examples(train_path(root)), embeddings)


# --- validation ------------------------------------------------------------------------


@dataclass
class SplitResult:
    split: str
    overall: Agreement
    by_category: dict[str, Agreement]
    trained_on: int
    """Training judgements (for the disjoint split: the smallest fold)."""


def split_result(
    split: str, examples: Sequence[Example], predicted: Sequence[bool], trained_on: int
) -> SplitResult:
    by_category = {}
    for category in CATEGORIES:
        index = [i for i, e in enumerate(examples) if e.category.startswith(category)]
        if index:
            by_category[category] = agreement(
                [predicted[i] for i in index], [examples[i].valid for i in index]
            )
    return SplitResult(
        split, agreement(predicted, [e.valid for e in examples]), by_category, trained_on
    )


def disjoint_folds(
    train: Sequence[Example], test: Sequence[Example]
) -> list[tuple[list[int], list[int]]]:
    """(test indices, kept training indices) per recording of the test judgements: the
    kept training judgements share no event with any test history of the fold."""
    rec = recordings([e.keys for e in test] + [e.keys for e in train])
    test_rec, train_rec = rec[: len(test)], rec[len(test) :]
    return [
        (
            [i for i, q in enumerate(test_rec) if q == r],
            [j for j, q in enumerate(train_rec) if q != r],
        )
        for r in sorted(set(test_rec))
    ]


def disjoint_verdicts(
    train: Sequence[Example], test: Sequence[Example], embeddings: Embeddings
) -> tuple[list[bool], int]:
    """Each test judgement by a judge trained without its recording's judgements."""
    verdicts: list[bool | None] = [None] * len(test)
    smallest = len(train)
    for index, kept in disjoint_folds(train, test):
        smallest = min(smallest, len(kept))
        judge = train_judge([train[j] for j in kept], embeddings)
        for i, v in zip(index, judge.verdicts([_case(test[i]) for i in index]), strict=True):
            verdicts[i] = v
    return [bool(v) for v in verdicts], smallest


# --- the peers, judged ------------------------------------------------------------------

PEER_FOLDER = "peer_traces"
"""The peers' answers on the eight test recordings (the published table's recordings
that are not held back)."""


def load_published(root: Path) -> dict[str, dict[str, float]]:
    """The published table's F1: split (real_average, real_coding, ...) -> agent -> F1."""
    out: dict[str, dict[str, float]] = {}
    with (root / "published_results.csv").open() as handle:
        for row in csv.DictReader(handle):
            out.setdefault(row["split"], {})[row["model"]] = float(row["f1"])
    return out


def _answer_tasks(response: object, null_is_offer: bool) -> tuple[str, ...]:
    items = response if isinstance(response, list) else [response]
    tasks = tuple(t.strip() for t in items if isinstance(t, str) and t.strip())
    return tasks if null_is_offer else tuple(t for t in tasks if t.lower() != "null")


PeerVerdicts = dict[str, dict[str, list[JudgedEvent]]]
"""Peer -> recording -> the peer's judged events on that recording."""


def peer_verdicts(root: Path, judge: Judge, *, null_is_offer: bool) -> PeerVerdicts:
    """Every peer's answers on the test recordings, judged (ProactiveBench's TP/FP/TN/FN,
    at most `MAX_JUDGED_TASKS` tasks an event). `null_is_offer`: a literal "null" answer
    is an offer of the task "null", as the official scoring read it."""
    out: PeerVerdicts = {}
    for folder in sorted(p for p in (root / PEER_FOLDER).iterdir() if p.is_dir()):
        out[folder.name] = {}
        for path in sorted(folder.glob("*.json")):
            items = json.loads(path.read_text())
            observations = [item["observation"] for item in items]
            steps = [
                TraceStep(
                    tuple(observations[: i + 1]),
                    _answer_tasks(item.get("agent_response"), null_is_offer),
                    bool(item["task_status"]),
                )
                for i, item in enumerate(items)
            ]
            out[folder.name][path.stem] = judged_events(steps, judge)
    return out


def _spearman(ours: dict[str, float], theirs: dict[str, float]) -> float:
    from scipy.stats import spearmanr

    common = sorted(set(ours) & set(theirs))
    return float(spearmanr([ours[p] for p in common], [theirs[p] for p in common]).statistic)


@dataclass
class PeerComparison:
    protocol: str
    peers: dict[str, float]
    """Peer -> F1 under the judge on the eight test recordings."""
    published: dict[str, float]
    """Peer -> published real_average F1 (twelve recordings, the official reward model)."""
    mean_abs_difference: float
    spearman: float
    kendall: float
    spearman_interval: tuple[float, float] = (float("nan"), float("nan"))
    """95 % interval of `spearman` from resampling the judged recordings."""
    spearman_by_series: dict[str, float] = field(default_factory=dict)
    """Published split (real_coding, real_writing) -> Spearman of the peers' F1 here on
    that series' recordings with the published F1 on that split."""


def compare_with_published(
    protocol: str, judged: dict[str, float], published: dict[str, float]
) -> PeerComparison:
    from scipy.stats import kendalltau

    common = sorted(set(judged) & set(published))
    ours = [judged[p] for p in common]
    theirs = [published[p] for p in common]
    return PeerComparison(
        protocol=protocol,
        peers={p: round(judged[p], 4) for p in common},
        published={p: published[p] for p in common},
        mean_abs_difference=float(np.mean(np.abs(np.subtract(ours, theirs)))),
        spearman=_spearman(judged, published),
        kendall=float(kendalltau(ours, theirs).statistic),
    )


SERIES = {"code": "real_coding", "writing": "real_writing"}
"""Recording name prefix -> the published split that covers that series."""


def _f1(counts: np.ndarray) -> np.ndarray:
    """F1 from TP/FP/FN counts on the last axis (0 where nothing was right)."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    return np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(tp.shape), where=tp > 0)


def compare_peers(
    protocol: str,
    verdicts: PeerVerdicts,
    published: dict[str, dict[str, float]],
    *,
    resamples: int = 2000,
) -> PeerComparison:
    """The peers' F1 under a judge against the published table (`published`: split ->
    peer -> F1): levels and rank correlation, the rank correlation's 95 % interval from
    resampling whole recordings, and the same per series against that series' split."""
    peers = sorted(verdicts)
    recordings = sorted(set().union(*(by.keys() for by in verdicts.values())))
    counts = np.zeros((len(peers), len(recordings), 3))
    for i, peer in enumerate(peers):
        for j, recording in enumerate(recordings):
            s = score(peer, verdicts[peer].get(recording, []))
            counts[i, j] = (s.tp, s.fp, s.fn)
    average = published["real_average"]
    comparison = compare_with_published(
        protocol, dict(zip(peers, _f1(counts.sum(axis=1)), strict=True)), average
    )
    rng = np.random.default_rng(0)
    resampled = []
    for _ in range(resamples):
        picked = counts[:, rng.integers(0, len(recordings), len(recordings))].sum(axis=1)
        rho = _spearman(dict(zip(peers, _f1(picked), strict=True)), average)
        if not math.isnan(rho):  # every peer tied: no ranking to compare
            resampled.append(rho)
    comparison.spearman_interval = (
        float(np.percentile(resampled, 2.5)),
        float(np.percentile(resampled, 97.5)),
    )
    for prefix, split in SERIES.items():
        columns = [j for j, r in enumerate(recordings) if r.split("_")[0] == prefix]
        if columns and split in published:
            series = _f1(counts[:, columns].sum(axis=1))
            comparison.spearman_by_series[split] = _spearman(
                dict(zip(peers, series, strict=True)), published[split]
            )
    return comparison


def published_consistency(
    published: dict[str, dict[str, float]], peers: Iterable[str]
) -> dict[str, float]:
    """How alike the published table ranks `peers` on its two series (six recordings
    each), and each series against all twelve: the ranking's own stability under the
    official reward model, a reference for any judge's rank agreement with it."""
    kept = set(peers)
    coding, writing, average = (
        {p: f1 for p, f1 in published[split].items() if p in kept}
        for split in ("real_coding", "real_writing", "real_average")
    )
    return {
        "real_coding vs real_writing": _spearman(coding, writing),
        "real_coding vs real_average": _spearman(coding, average),
        "real_writing vs real_average": _spearman(writing, average),
    }


PRISM = {"f1": 0.8661, "false_alarm": 0.2294, "escalated": 0.11}
"""PRISM (2026), a cost-gated dual-process agent, under the official reward model (data
README); about 11 % of its events went to its slow process."""

PROTOCOLS = {"null is an offer (official)": True, "null is silence": False}


@dataclass
class Validation:
    judge: str
    official: SplitResult
    disjoint: SplitResult
    always_valid: Agreement
    """Agreement of a judge that accepts everything (F1 is lenient to that)."""
    peer_comparisons: list[PeerComparison]
    published_consistency: dict[str, float]
    """`published_consistency` over the compared peers: the reference for the ranks."""
    published_f1: dict[str, float]
    coefficients: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        def row(label: str, a: Agreement) -> str:
            return agreement_row(label, a, 46)

        lines = [
            f"{self.judge} vs the annotators, reward_data/test_data ('valid' positive)",
            agreement_header("split", 46),
            row("official split (trained on train_data)", self.official.overall),
            row("history-disjoint (leave-one-recording-out)", self.disjoint.overall),
            row("accept everything (no judge)", self.always_valid),
            *published_rows(self.published_f1, 46),
            f"history-disjoint: F1 {self.disjoint.overall.f1 - self.official.overall.f1:+.3f}, "
            f"accuracy {self.disjoint.overall.accuracy - self.official.overall.accuracy:+.3f} "
            f"(trained on >= {self.disjoint.trained_on} of {self.official.trained_on} "
            "judgements per fold)",
        ]
        for result in (self.official, self.disjoint):
            lines += ["", f"by category, {result.split}", agreement_header("category", 46)]
            lines += [row(c, a) for c, a in result.by_category.items()]
        for comp in self.peer_comparisons:
            lines += [
                "",
                f"15 peers judged by it, 8 test recordings ({comp.protocol}), next to "
                "published_results.csv real_average (12 recordings, official reward model)",
                f"{'peer':30} {'F1 here':>8} {'published':>9}",
            ]
            order = sorted(comp.peers, key=lambda p: -comp.published[p])
            lines += [f"{p:30} {comp.peers[p]:8.3f} {comp.published[p]:9.3f}" for p in order]
            low, high = comp.spearman_interval
            by_series = ", ".join(
                f"{split} {rho:.3f}" for split, rho in comp.spearman_by_series.items()
            )
            lines += [
                f"mean |difference| {comp.mean_abs_difference:.3f}; rank correlation Spearman "
                f"{comp.spearman:.3f} (95 % interval {low:.3f}-{high:.3f}, resampling the "
                f"recordings), Kendall {comp.kendall:.3f}. The recordings differ (8 of the "
                "12), so the ranking is the comparison, not the levels.",
                f"per series, against that series' published split: {by_series}",
            ]
        lines += [
            "",
            "the published table against itself (official reward model, same peers), "
            "Spearman: " + ", ".join(f"{k} {v:.3f}" for k, v in self.published_consistency.items()),
        ]
        return "\n".join(lines)


def validate(
    root: Path, embeddings: Embeddings, progress: Callable[[str], None] = lambda _: None
) -> tuple[OfflineJudge, Validation]:
    """Train the judge and validate it three ways (see the module's docstring)."""
    train = load_examples(train_path(root))
    test = load_examples(root / "reward_data" / "test_data.jsonl")
    progress("offline judge: official split")
    judge = train_judge(train, embeddings)
    official = split_result(
        "official split", test, judge.verdicts([_case(e) for e in test]), len(train)
    )
    progress("offline judge: history-disjoint split")
    verdicts, smallest = disjoint_verdicts(train, test, embeddings)
    disjoint = split_result("history-disjoint split", test, verdicts, smallest)
    published = load_published(root)
    comparisons = []
    # The peers' recordings are in the training judgements: each is judged by a judge
    # trained without it.
    disjoint_judge = DisjointJudge(train, embeddings)
    for protocol, null_is_offer in PROTOCOLS.items():
        progress(f"offline judge: peers ({protocol})")
        verdicts = peer_verdicts(root, disjoint_judge, null_is_offer=null_is_offer)
        comparisons.append(compare_peers(protocol, verdicts, published))
    return judge, Validation(
        judge=judge.name,
        official=official,
        disjoint=disjoint,
        always_valid=agreement([True] * len(test), [e.valid for e in test]),
        peer_comparisons=comparisons,
        published_consistency=published_consistency(published, comparisons[0].peers),
        published_f1=dict(PUBLISHED_F1),
        coefficients=coefficients(judge),
    )
