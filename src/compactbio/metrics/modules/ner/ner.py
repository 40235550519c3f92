"""Entity-level NER precision, recall and F1, word level and the paper's sub-word variant.

An ``evaluate`` module over :mod:`compactbio.metrics.ner` (load it with
``evaluate.load(compactbio.metrics.modules.path("ner"))``).  Imports are
absolute: ``evaluate`` imports this file on its own, outside the package.
"""

import datasets
import evaluate

from compactbio.metrics.modules import PAPER_BIBTEX
from compactbio.metrics.ner import ner_scores, word_and_subword_scores

_DESCRIPTION = """\
Entity-level micro precision, recall and F1 of BIO / BIOES tag sequences, counted by
seqeval in its default mode, which is conlleval's: an I after an O or after another
type starts an entity, and a predicted entity counts only if its type, start and end
all match a gold one.  Tags are O or B/I/E/S, optionally with '-<type>'; any other
tag is an error.

Two ways to call it:

* word level (what BioBERT and most papers report): one predicted tag per word;
* with `word_ids`: `predictions` hold the model's tag at every sub-word and
  `word_ids` the word of each sub-word (-1 for special tokens).  The word-level
  prediction is then each word's first sub-word (a word without one is O), and the
  paper's sub-word variant is added: every sub-word carries its word's gold tag
  (a B copied onto all pieces of the word) and is scored as a token of its own.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one list of predicted tags per sentence (per word, or per sub-word
        when `word_ids` is given).
    references: one list of gold tags per sentence, one per word.
    word_ids (optional): one list per sentence, the word index of each sub-word of
        `predictions` (-1 for special tokens).
Returns:
    f1, precision, recall: word level;
    with `word_ids` also f1_subword, precision_subword, recall_subword.
Examples:
    >>> ner = evaluate.load(compactbio.metrics.modules.path("ner"))
    >>> ner.compute(predictions=[["B", "I", "O", "O"]], references=[["B", "I", "O", "B"]])
    {'precision': 1.0, 'recall': 0.5, 'f1': 0.6666666666666666}
"""

_CITATION = PAPER_BIBTEX + """
@inproceedings{tjong-kim-sang-buchholz-2000-introduction,
  title = {Introduction to the {CoNLL}-2000 Shared Task: Chunking},
  author = {Tjong Kim Sang, Erik F. and Buchholz, Sabine},
  booktitle = {Fourth Conference on Computational Natural Language Learning and the
               Second Learning Language in Logic Workshop},
  year = {2000},
  url = {https://www.clips.uantwerpen.be/conll2000/chunking/conlleval.txt}
}
@misc{seqeval,
  title = {{seqeval}: A Python framework for sequence labeling evaluation},
  author = {Hiroki Nakayama},
  year = {2018},
  url = {https://github.com/chakki-works/seqeval}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Ner(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("string")),
                "references": datasets.Sequence(datasets.Value("string")),
            }),
            homepage="https://github.com/chakki-works/seqeval",
            reference_urls=["https://www.clips.uantwerpen.be/conll2000/chunking/conlleval.txt",
                            "https://doi.org/10.1093/bioinformatics/btad103"],
        )

    def _compute(self, predictions, references, word_ids=None):
        if word_ids is None:
            return ner_scores(references, predictions)
        return word_and_subword_scores(references, predictions, word_ids)
