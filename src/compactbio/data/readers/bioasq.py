"""BioASQ factoid QA in BioBERT's SQuAD-like form plus the official golden file.

Each (question, snippet) pair is one entry with id ``<24 hex>_<3 digits>``;
the 24-hex part is the BioASQ question id.  The training file is split into
train and validation *by question*, so no question's snippets leak across the
split.  Evaluation is per question (answers merged over snippets), so we write
golden files: ``golden_validation.json`` from the training answers (every
distinct answer text of a question is a synonym of its one answer) and
``golden_test.json`` from ``7B_golden.json``.

``split.validation_fraction: 0`` (the authors' protocol: they fine-tuned on
the whole training file) leaves the validation split empty; fine-tuning then
needs ``finetune.qa.select: last``.

Golden ``exact_answer`` for factoid questions comes as a string, a list of
synonyms, or a list of synonym lists; it is normalised to a list of synonym
lists.  A test question absent from the golden file (or not factoid there)
is an error: it could never be scored.  ``golden_questions.json`` lists the
id and type of *every* question of the golden file, in its order (7b: 500, of
which 162 factoid), so the fine-tuning stage can write a submission the
official evaluator accepts as is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import DataError, read_text
from . import Prepared
from .common import require_nonempty, seeded_pick

ID = re.compile(r"^([0-9a-f]{24})_(\d{3})$")
DEFAULT_FILES = {"train": "BioASQ-train-factoid-7b.json", "test": "BioASQ-test-factoid-7b.json",
                 "golden": "7B_golden.json"}


def load_json(path: Path):
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid or truncated JSON: {exc.msg} at column {exc.colno}", exc.lineno) from None


def _items(path: Path, obj: dict, key: str, where: str, required: bool = True) -> list:
    """``obj[key]`` as a list (missing: ``[]`` unless required); anything else names its position."""
    value = obj.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise DataError(path, f"{where}: expected a list '{key}', got {_kind(value)}")
    return value


def _kind(value) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {_short(value)}"


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _object(path: Path, value, where: str) -> dict:
    if not isinstance(value, dict):
        raise DataError(path, f"{where}: expected a JSON object, got {_kind(value)}")
    return value


def _answer(path: Path, a, where: str, qid: str, context: str) -> dict:
    a = _object(path, a, where)
    text, start = a.get("text"), a.get("answer_start")
    if not isinstance(text, str) or not isinstance(start, int) or isinstance(start, bool):
        raise DataError(path, f"{where} (question {qid}): answer needs string 'text' and int 'answer_start', "
                              f"got text {_short(text)} and answer_start {_short(start)}")
    if not text.strip():
        raise DataError(path, f"{where} (question {qid}): empty answer text")
    if start < 0 or start + len(text) > len(context):
        raise DataError(path, f"{where} (question {qid}): answer_start {start} is outside its context "
                              f"(answer of {len(text)} characters, context of {len(context)})")
    if context[start:start + len(text)] != text:
        raise DataError(path, f"{where} (question {qid}): answer {text!r} is not at answer_start {start} of its "
                              f"context (found {context[start:start + len(text)]!r})")
    return {"text": text, "answer_start": start}


def read_squad(path: Path, need_answers: bool) -> list[dict]:
    """Rows of a SQuAD-like file.  JSON has no useful line numbers once parsed, so a problem is named by
    its position, e.g. ``data[0].paragraphs[3].qas[1]``, and by its question id where it has one."""
    doc = load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise DataError(path, "expected a SQuAD-like object with a 'data' list")
    rows = []
    seen: dict[str, str] = {}  # id -> position of its first entry
    for i, article in enumerate(doc["data"]):
        at = f"data[{i}]"
        article = _object(path, article, at)
        for j, para in enumerate(_items(path, article, "paragraphs", at, required=False)):
            pat = f"{at}.paragraphs[{j}]"
            para = _object(path, para, pat)
            context = para.get("context")
            if not isinstance(context, str):
                raise DataError(path, f"{pat}: paragraph without a string 'context'")
            for k, qa in enumerate(_items(path, para, "qas", pat, required=False)):
                qat = f"{pat}.qas[{k}]"
                qa = _object(path, qa, qat)
                qid = str(qa.get("id", ""))
                m = ID.match(qid)
                if not m:
                    raise DataError(path, f"{qat}: question id {qid!r} is not '<24 hex>_<3 digits>'")
                if qid in seen:
                    raise DataError(path, f"duplicate id {qid}: at {seen[qid]} and again at {qat} "
                                          f"(each (question, snippet) id must be unique)")
                seen[qid] = qat
                answers = [_answer(path, a, f"{qat}.answers[{n}]", qid, context)
                           for n, a in enumerate(_items(path, qa, "answers", qat, required=False))]
                if need_answers and not answers:
                    raise DataError(path, f"{qat} (question {qid}): training entry without an answer")
                rows.append({"id": qid, "question_id": m.group(1), "question": str(qa.get("question", "")).strip(),
                             "context": context, "answers": answers})
    require_nonempty(path, rows, "questions")
    return rows


def _questions(path: Path) -> list[dict]:
    """The golden file's ``questions``, each checked to be an object."""
    doc = load_json(path)
    questions = doc.get("questions") if isinstance(doc, dict) else None
    if not isinstance(questions, list):
        raise DataError(path, "expected an object with a 'questions' list")
    return [_object(path, q, f"questions[{i}]") for i, q in enumerate(questions)]


def normalise_exact(answer) -> list[list[str]]:
    if isinstance(answer, str):
        return [[answer]]
    if isinstance(answer, list) and all(isinstance(a, str) for a in answer):
        return [list(answer)]
    if isinstance(answer, list) and all(isinstance(a, list) and all(isinstance(s, str) for s in a) for a in answer):
        return [list(a) for a in answer]
    raise ValueError(f"unrecognised exact_answer {answer!r}")


def golden_from_train(rows: list[dict]) -> dict:
    gold: dict = {}
    for r in rows:
        entry = gold.setdefault(r["question_id"], {"question": r["question"], "answers": [[]]})
        for a in r["answers"]:
            if a["text"] not in entry["answers"][0]:
                entry["answers"][0].append(a["text"])
    return gold


def golden_from_file(path: Path, test_rows: list[dict]) -> dict:
    questions = _questions(path)
    factoid = {q["id"]: q for q in questions if q.get("type") == "factoid" and isinstance(q.get("id"), str)}
    wanted = sorted({r["question_id"] for r in test_rows})
    missing = [q for q in wanted if q not in factoid]
    if missing:
        raise DataError(path, f"golden file is missing {len(missing)} test question(s) "
                              f"(or they are not factoid): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    gold = {}
    for qid in wanted:
        q = factoid[qid]
        try:
            gold[qid] = {"question": q.get("body", ""), "answers": normalise_exact(q.get("exact_answer"))}
        except ValueError as exc:
            raise DataError(path, f"question {qid}: {exc}") from None
    return gold


def question_list(path: Path) -> dict:
    """``{"questions": [{"id", "type"}, ...]}``: every question of the golden file, in its order."""
    out = []
    for i, q in enumerate(_questions(path)):
        qid, qtype = q.get("id"), q.get("type")
        if not isinstance(qid, str) or qtype not in ("factoid", "yesno", "list", "summary"):
            raise DataError(path, f"questions[{i}] (id {qid!r}): needs a string id and a type "
                                  f"factoid/yesno/list/summary, got {qtype!r}")
        out.append({"id": qid, "type": qtype})
    return {"questions": out}


def read(folder: Path, ds: dict, name: str) -> Prepared:
    folder = Path(folder)
    files = dict(DEFAULT_FILES)
    files.update(ds.get("files") or {})
    unknown = sorted(set(files) - set(DEFAULT_FILES))
    if unknown:
        raise ValueError(f"datasets.{name}.files: {', '.join(unknown)} not used by the bioasq format "
                         f"(train, test, golden)")
    cfg = {"validation_fraction": 0.1, "seed": 13}
    cfg.update(ds.get("split") or {})
    train_all = read_squad(folder / files["train"], need_answers=True)
    test = read_squad(folder / files["test"], need_answers=False)
    val_q = seeded_pick(list({r["question_id"] for r in train_all}), cfg["validation_fraction"], cfg["seed"])
    train = [r for r in train_all if r["question_id"] not in val_q]
    validation = [r for r in train_all if r["question_id"] in val_q]
    if not validation and cfg["validation_fraction"] > 0:
        raise DataError(folder / files["train"], "empty split: validation has no questions (too few training questions)")
    golden_test = golden_from_file(folder / files["golden"], test)
    extra = {"golden_validation.json": golden_from_train(validation), "golden_test.json": golden_test,
             "golden_questions.json": question_list(folder / files["golden"])}
    questions = {s: len({r["question_id"] for r in rows}) for s, rows in
                 (("train", train), ("validation", validation), ("test", test))}
    return Prepared(task="qa", labels=[], splits={"train": train, "validation": validation, "test": test},
                    extra_meta={"questions": questions, "split": cfg}, extra_files=extra)
