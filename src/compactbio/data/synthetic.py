"""Seeded synthetic stand-ins for the paper's datasets, in the real file formats.

The demo scale must run offline in minutes, yet exercise every reader and
give a tiny model something learnable.  So each set is generated from
templates with *cue words* next to the entities or relations (``patients
with <disease>``, ``<chem> inhibits << gene >>``), entity names built from
morphemes (so sub-word tokens carry signal and unseen test names are still
guessable), and deliberate noise (unlabelled mentions, cue-less sentences,
flipped relation labels) so scores land clearly above chance but below 100%.

The files land at the same relative paths as the real archives, so the
``datasets.*.path`` entries of params.yaml are identical at both scales.
Everything depends only on the seed: same seed, byte-identical files.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------ vocabulary
_DIS_A = ["cardio", "neuro", "hepato", "nephro", "osteo", "dermato", "gastro", "myelo", "angio", "retino",
          "encephalo", "arthro", "pneumo", "leuko", "thyro", "myo"]
_DIS_B = ["pathy", "itis", "oma", "osis", "algia", "plasia", "sclerosis", "dystrophy"]
_DIS_HEAD = ["syndrome", "disease", "deficiency", "carcinoma", "disorder"]
_DIS_MOD = ["chronic", "familial", "hereditary", "acute", "juvenile"]
_CHEM_A = ["meth", "eth", "prop", "benz", "chlor", "fluor", "sulf", "nitr", "acet", "hydrox", "cyclo", "pyr",
           "thi", "amin", "dexa", "vera"]
_CHEM_B = ["amine", "azole", "anol", "ide", "oate", "mycin", "oxacin", "prazole", "statin", "olol", "pril", "idine"]
_GENE_L = "ABCDEFGHKLMNPRSTVWXZ"
_GENE_HEAD = ["receptor", "kinase", "protein", "factor", "transporter"]
_GENUS_A = ["Strepto", "Staphylo", "Lacto", "Myco", "Entero", "Pseudo", "Clostri", "Borre", "Trypano", "Plasmo",
            "Salmo", "Vibri", "Droso", "Arabido"]
_GENUS_B = ["coccus", "bacter", "monas", "bacillus", "myces", "soma", "lia", "dium", "phila", "psis"]
_EPITHET = ["coli", "aureus", "pneumoniae", "enterica", "subtilis", "aeruginosa", "tuberculosis", "albicans",
            "falciparum", "melanogaster", "thaliana", "cerevisiae", "monocytogenes", "cholerae"]
_COMMON_SPECIES = ["mice", "rats", "patients", "humans", "zebrafish", "rabbits", "dogs", "pigs"]

FILLER = ("the results of this study suggest that further clinical and molecular analysis is required in a large "
          "cohort we observed significant differences between groups these findings were consistent with previous "
          "reports data were collected from several centers the mechanism remains unclear samples were analysed "
          "using standard methods expression levels increased after treatment in vitro and in vivo").split()


def _diseases(rng: random.Random, n: int) -> list[str]:
    out = set()
    while len(out) < n:
        core = rng.choice(_DIS_A) + rng.choice(_DIS_B)
        r = rng.random()
        out.add(core if r < 0.45 else f"{core} {rng.choice(_DIS_HEAD)}" if r < 0.8 else f"{rng.choice(_DIS_MOD)} {core}")
    return sorted(out)


def _chemicals(rng: random.Random, n: int) -> list[str]:
    out = set()
    while len(out) < n:
        name = rng.choice(_CHEM_A) + rng.choice(["", "a", "o", "i"]) + rng.choice(_CHEM_B)
        out.add(name if rng.random() < 0.85 else f"{name} hydrochloride")
    return sorted(out)


def _genes(rng: random.Random, n: int) -> list[str]:
    out = set()
    while len(out) < n:
        sym = "".join(rng.choice(_GENE_L) for _ in range(rng.randint(2, 4))) + str(rng.randint(1, 12))
        out.add(sym if rng.random() < 0.7 else f"{sym} {rng.choice(_GENE_HEAD)}")
    return sorted(out)


def _species(rng: random.Random, n: int) -> list[str]:
    out = set(rng.sample(_COMMON_SPECIES, min(3, n)))
    while len(out) < n:
        out.add(f"{rng.choice(_GENUS_A)}{rng.choice(_GENUS_B)} {rng.choice(_EPITHET)}")
    return sorted(out)


KINDS = {"disease": _diseases, "chemical": _chemicals, "gene": _genes, "species": _species}

# Cue templates: "{E}" is the entity.  Cues make mentions learnable from context.
CUES = {
    "disease": ["patients with {E} were enrolled", "diagnosed with {E}", "{E} is characterized by inflammation",
                "the risk of {E} increased", "symptoms of {E} improved", "a case of {E} is reported"],
    "chemical": ["treated with {E}", "a dose of {E} was given", "{E} administration reduced toxicity",
                 "exposure to {E} induced", "{E} was dissolved in saline", "the effect of {E} on"],
    "gene": ["expression of {E} was elevated", "{E} mutations were detected", "the {E} gene encodes",
             "knockdown of {E} reduced", "{E} binds the promoter", "levels of {E} mRNA"],
    "species": ["isolated from {E}", "strains of {E} were cultured", "infection of {E} was observed",
                "the genome of {E}", "{E} colonies grew", "experiments in {E} showed"],
}

# Dataset folder -> (entity kind, seed offset, share of mentions left unlabelled, share without cue)
NER_SETS = {
    "NCBI-disease": ("disease", 11, 0.04, 0.25),
    "BC5CDR-disease": ("disease", 12, 0.06, 0.30),
    "BC5CDR-chem": ("chemical", 13, 0.03, 0.20),
    "BC4CHEMD": ("chemical", 14, 0.06, 0.30),
    "BC2GM": ("gene", 15, 0.08, 0.35),
    "JNLPBA": ("gene", 16, 0.06, 0.30),
    "linnaeus": ("species", 17, 0.03, 0.20),
    "s800": ("species", 18, 0.08, 0.35),
}

CHEMPROT_LABELS = {  # label -> (cue phrases, relative frequency, like the real skew)
    "INHIBITOR": (["inhibits", "blocked the activity of", "is a potent inhibitor of"], 16),
    "SUBSTRATE": (["is metabolized by", "is a substrate of"], 5),
    "INDIRECT-DOWNREGULATOR": (["reduced the expression of", "decreased levels of"], 5),
    "INDIRECT-UPREGULATOR": (["increased the expression of", "elevated levels of"], 4),
    "ACTIVATOR": (["activates", "stimulated the activity of"], 3),
    "ANTAGONIST": (["antagonizes", "is an antagonist of"], 3),
    "PRODUCT-OF": (["is produced by", "is synthesized by"], 2),
    "AGONIST": (["is an agonist of", "acts as agonist at"], 2),
    "DOWNREGULATOR": (["downregulates", "suppressed"], 2),
    "UPREGULATOR": (["upregulates", "enhanced"], 1),
    "SUBSTRATE_PRODUCT-OF": (["is both substrate and product of"], 1),
    "AGONIST-ACTIVATOR": (["is an agonist activator of"], 1),
    "AGONIST-INHIBITOR": (["is an agonist inhibitor of"], 1),
}

GAD_POS = ["is associated with", "increased the risk of", "confers susceptibility to", "was linked to",
           "is a risk factor for"]
GAD_NEG = ["is not associated with", "showed no association with", "did not influence", "was unrelated to"]


# ------------------------------------------------------------------ helpers
def _words(text: str) -> list[str]:
    """Whitespace tokens with trailing punctuation split off, like the BioBERT TSVs."""
    out = []
    for w in text.split():
        tail = []
        while len(w) > 1 and w[-1] in ".,;:)":
            tail.insert(0, w[-1])
            w = w[:-1]
        out.append(w)
        out.extend(tail)
    return out


def _filler(rng: random.Random, lo: int = 3, hi: int = 8) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(rng.randint(lo, hi)))


class Vocab:
    """Entity names per kind, split into names seen in training and held-out names."""

    def __init__(self, seed: int, size: int = 60):
        rng = random.Random(seed)
        self.all = {k: f(rng, size) for k, f in KINDS.items()}
        self.seen, self.unseen = {}, {}
        for k, names in self.all.items():
            shuffled = names[:]
            rng.shuffle(shuffled)
            cut = int(len(shuffled) * 0.7)
            self.seen[k], self.unseen[k] = sorted(shuffled[:cut]), sorted(shuffled[cut:])

    def pick(self, rng: random.Random, kind: str, train: bool) -> str:
        pool = self.seen[kind] if train or rng.random() < 0.6 else self.unseen[kind]
        return rng.choice(pool)


def _cue_sentence(rng: random.Random, kind: str, name: str, cued: bool) -> str:
    if cued:
        return rng.choice(CUES[kind]).replace("{E}", name)
    return f"{_filler(rng, 1, 3)} {name} {_filler(rng, 1, 3)}"


# ------------------------------------------------------------------ NER
def ner_sentence(rng: random.Random, vocab: Vocab, kind: str, train: bool, unlabelled: float,
                 no_cue: float) -> list[tuple[str, str]]:
    """One sentence: 1-2 target mentions, sometimes a distractor of another kind (tagged O)."""
    parts: list[tuple[str, bool]] = []  # (text, is_target_entity)
    parts.append((_filler(rng, 0, 4), False))
    for _ in range(rng.choice([1, 1, 2])):
        name = vocab.pick(rng, kind, train)
        tmpl = rng.choice(CUES[kind]) if rng.random() >= no_cue else "{E}"
        before, after = tmpl.split("{E}")
        parts += [(before, False), (name, rng.random() >= unlabelled), (after, False), (_filler(rng, 0, 3), False)]
    if rng.random() < 0.5:
        other = rng.choice(sorted(k for k in KINDS if k != kind))
        parts.append((_cue_sentence(rng, other, vocab.pick(rng, other, True), rng.random() < 0.5), False))
    rows: list[tuple[str, str]] = []
    for text, is_ent in parts:
        words = _words(text) if not is_ent else text.split()
        for i, w in enumerate(words):
            rows.append((w, ("B" if i == 0 else "I") if is_ent else "O"))
    rows.append((".", "O"))
    if rows[0][1] == "O":
        rows[0] = (rows[0][0].capitalize(), "O")
    return rows


def write_ner(root: Path, cfg: dict, vocab: Vocab, seed: int) -> None:
    sizes = cfg.get("ner_sentences", {"train": 240, "devel": 60, "test": 60})
    for folder, (kind, offset, unlabelled, no_cue) in NER_SETS.items():
        d = root / "datasets" / "NER" / folder
        d.mkdir(parents=True, exist_ok=True)
        texts = {}
        for split in ("train", "devel", "test"):
            rng = random.Random(seed * 1000 + offset * 10 + ("train", "devel", "test").index(split))
            sents = [ner_sentence(rng, vocab, kind, split == "train", unlabelled, no_cue) for _ in range(sizes[split])]
            texts[split] = "\n".join("".join(f"{w}\t{t}\n" for w, t in s) for s in sents)
            (d / f"{split}.tsv").write_text(texts[split], encoding="utf-8")
        (d / "train_dev.tsv").write_text(texts["train"] + "\n" + texts["devel"], encoding="utf-8")
        (d / "labels.txt").write_text("B\nI\nO", encoding="utf-8")  # the real files lack a final newline


# ------------------------------------------------------------------ GAD
def gad_sentence(rng: random.Random, noise: float = 0.12) -> tuple[str, str]:
    label = rng.random() < 0.55
    cue = rng.choice(GAD_POS if label else GAD_NEG)
    if rng.random() < noise:
        label = not label
    pre, post = _filler(rng, 1, 5), _filler(rng, 1, 5)
    s = f"{pre.capitalize()} the @GENE$ polymorphism {cue} @DISEASE$ {post}."
    if rng.random() < 0.3:
        s = f"{pre.capitalize()} @DISEASE$ {cue.replace('is ', 'was ')} variants of @GENE$ {post}."
    return s, "1" if label else "0"


def write_gad(root: Path, cfg: dict, seed: int) -> None:
    rng = random.Random(seed * 1000 + 21)
    pool = [gad_sentence(rng) for _ in range(cfg.get("gad_rows", 400))]
    folds = 10
    for k in range(1, folds + 1):
        d = root / "datasets" / "RE" / "GAD" / str(k)
        d.mkdir(parents=True, exist_ok=True)
        test = [r for i, r in enumerate(pool) if i % folds == k - 1]
        train = [r for i, r in enumerate(pool) if i % folds != k - 1]
        (d / "train.tsv").write_text("".join(f"{s}\t{y}\n" for s, y in train), encoding="utf-8")
        (d / "test.tsv").write_text("index\tsentence\tlabel\n" + "".join(f"{i}\t{s}\t{y}\n" for i, (s, y) in enumerate(test)),
                                    encoding="utf-8")


# ------------------------------------------------------------------ ChemProt
def chemprot_row(rng: random.Random, vocab: Vocab, noise: float = 0.12) -> dict:
    labels = list(CHEMPROT_LABELS)
    label = rng.choices(labels, weights=[CHEMPROT_LABELS[x][1] for x in labels])[0]
    cue = rng.choice(CHEMPROT_LABELS[label][0])
    if rng.random() < noise:
        label = rng.choice(labels)
    chem, gene = vocab.pick(rng, "chemical", True), vocab.pick(rng, "gene", True)
    text = f"{_filler(rng, 1, 5).capitalize()} [[ {chem} ]] {cue} << {gene} >> {_filler(rng, 1, 5)}."
    return {"text": text, "label": label, "metadata": []}


def write_chemprot(root: Path, cfg: dict, vocab: Vocab, seed: int) -> None:
    sizes = cfg.get("rows", {"train": 420, "dev": 120, "test": 120})
    root.mkdir(parents=True, exist_ok=True)
    for i, split in enumerate(("train", "dev", "test")):
        rng = random.Random(seed * 1000 + 31 + i)
        rows = [chemprot_row(rng, vocab) for _ in range(sizes[split])]
        (root / f"{split}.txt").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


# ------------------------------------------------------------------ BioASQ
QA_TYPES = [  # (question template, answer kind, about kind, answer cue, distractor cue)
    ("Which gene is mutated in {A}?", "gene", "disease", "mutations in {X} cause {A}", "{X} was also sequenced"),
    ("Which drug is used to treat {A}?", "chemical", "disease", "{X} is the first-line treatment for {A}",
     "{X} was used as a control"),
    ("Which organism causes {A}?", "species", "disease", "{A} is caused by infection with {X}",
     "{X} was not detected"),
    ("Which protein is inhibited by {A}?", "gene", "chemical", "{A} selectively inhibits {X}",
     "{X} levels were unchanged"),
]


def _hexid(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(24))


def qa_question(rng: random.Random, vocab: Vocab, train: bool) -> dict:
    qt, akind, about_kind, cue, dcue = rng.choice(QA_TYPES)
    about = vocab.pick(rng, about_kind, train)
    answer = vocab.pick(rng, akind, train)
    snippets = []
    for _ in range(rng.randint(1, 3)):
        distractor = vocab.pick(rng, akind, train)
        while distractor == answer:
            distractor = vocab.pick(rng, akind, train)
        good = cue.replace("{A}", about).replace("{X}", answer)
        bad = dcue.replace("{X}", distractor)
        order = [good, bad] if rng.random() < 0.5 else [bad, good]
        head = f"{_filler(rng, 2, 6).capitalize()}. "
        text = head + ". ".join(s[0].upper() + s[1:] for s in order) + "."
        # Locate the answer inside the cued sentence, not a look-alike elsewhere.
        start = len(head) + (0 if order[0] is good else len(bad) + 2) + good.index(answer)
        assert text[start:start + len(answer)].lower() == answer.lower()
        snippets.append((text, start))
    return {"id": _hexid(rng), "question": qt.replace("{A}", about), "answer": answer, "snippets": snippets}


def _squad(questions: list[dict], with_answers: bool) -> dict:
    paragraphs = []
    for q in questions:
        for j, (ctx, start) in enumerate(q["snippets"], start=1):
            text = ctx[start:start + len(q["answer"])]  # capitalised when the sentence starts with it
            answers = [{"text": text, "answer_start": start}] if with_answers else []
            paragraphs.append({"qas": [{"id": f"{q['id']}_{j:03d}", "question": q["question"], "answers": answers}],
                               "context": ctx})
    return {"data": [{"title": "BioASQ6b", "paragraphs": paragraphs}], "version": "BioASQ6b"}


def write_bioasq(root: Path, cfg: dict, vocab: Vocab, seed: int) -> None:
    sizes = cfg.get("bioasq_questions", {"train": 120, "test": 40})
    d = root / "datasets" / "QA" / "BioASQ"
    d.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed * 1000 + 41)
    train = [qa_question(rng, vocab, True) for _ in range(sizes["train"])]
    test = [qa_question(rng, vocab, False) for _ in range(sizes["test"])]
    (d / "BioASQ-train-factoid-7b.json").write_text(json.dumps(_squad(train, True), indent=1), encoding="utf-8")
    (d / "BioASQ-test-factoid-7b.json").write_text(json.dumps(_squad(test, False), indent=1), encoding="utf-8")
    golden = [{"body": q["question"], "id": q["id"], "type": "factoid", "exact_answer": [[q["answer"]]],
               "ideal_answer": [q["snippets"][0][0]], "documents": [], "snippets": []} for q in test]
    # The real golden file also holds yes/no and list questions; readers must skip them.
    for _ in range(max(1, sizes["test"] // 4)):
        golden.append({"body": "Is the synthetic question answerable?", "id": _hexid(rng), "type": "yesno",
                       "exact_answer": "yes", "ideal_answer": ["Yes."], "documents": [], "snippets": []})
    (d / "7B_golden.json").write_text(json.dumps({"questions": golden}, indent=1), encoding="utf-8")


# ------------------------------------------------------------------ corpus
def corpus_document(rng: random.Random, vocab: Vocab) -> str:
    """An abstract-like paragraph mixing every cue family, so pre-training sees the tasks' vocabulary."""
    sents = []
    for _ in range(rng.randint(4, 8)):
        r = rng.random()
        if r < 0.5:
            kind = rng.choice(sorted(KINDS))
            sents.append(_cue_sentence(rng, kind, vocab.pick(rng, kind, rng.random() < 0.7), rng.random() < 0.8))
        elif r < 0.65:
            row = chemprot_row(rng, vocab, noise=0.0)["text"].replace("[[ ", "").replace(" ]]", "")
            sents.append(row.replace("<< ", "").replace(" >>", "").rstrip("."))
        elif r < 0.8:
            g, d = vocab.pick(rng, "gene", True), vocab.pick(rng, "disease", True)
            sents.append(f"the {g} polymorphism {rng.choice(GAD_POS + GAD_NEG)} {d}")
        elif r < 0.9:
            q = qa_question(rng, vocab, rng.random() < 0.7)
            sents.append(q["snippets"][0][0].rstrip("."))
        else:
            sents.append(_filler(rng, 6, 14))
    return " ".join(s[0].upper() + s[1:] + "." for s in sents)


def write_corpus(root: Path, cfg: dict, vocab: Vocab, seed: int) -> None:
    rng = random.Random(seed * 1000 + 51)
    root.mkdir(parents=True, exist_ok=True)
    docs = [corpus_document(rng, vocab) for _ in range(cfg.get("documents", 1500))]
    (root / "pubmed_sample.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ entry point
VOCAB_SEED = 7  # shared by every source so corpus and tasks name the same entities


def generate(source: str, cfg: dict, out: Path) -> None:
    """Write the synthetic version of ``source`` (biobert, chemprot or pubmed) into ``out``."""
    out = Path(out)
    seed = int(cfg.get("seed", 0))
    vocab = Vocab(int(cfg.get("vocab_seed", VOCAB_SEED)), int(cfg.get("vocab_size", 60)))
    kind = cfg.get("kind", source)
    if kind == "biobert":
        write_ner(out, cfg, vocab, seed)
        write_gad(out, cfg, seed)
        write_bioasq(out, cfg, vocab, seed)
    elif kind == "chemprot":
        write_chemprot(out, cfg, vocab, seed)
    elif kind == "pubmed":
        write_corpus(out, cfg, vocab, seed)
    else:
        raise ValueError(f"sources.{source}.synthetic: no generator for '{kind}' (biobert, chemprot, pubmed); "
                         "set `kind:` to one of them")
    logger.info("synthetic %s written to %s (seed %d)", kind, out, seed)
