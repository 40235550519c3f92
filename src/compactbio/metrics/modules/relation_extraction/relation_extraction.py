"""Relation-extraction F1: GAD's binary F1, ChemProt's macro- and micro-F1.

An ``evaluate`` module over :mod:`compactbio.metrics.re` (load it with
``evaluate.load(compactbio.metrics.modules.path("relation_extraction"))``).
Imports are absolute: ``evaluate`` imports this file on its own, outside the package.
"""

import datasets
import evaluate

from compactbio.metrics.modules import PAPER_BIBTEX
from compactbio.metrics.re import re_scores

_DESCRIPTION = """\
Scores of single-label relation classification, defined as the paper's scikit-learn
based scripts computed them:

* f1_binary: F1 of the positive class "1" (GAD; f1_score(average="binary"));
* f1_macro: unweighted mean of per-label F1 over the labels present in the references
  or the predictions (f1_score(average="macro") with its default labels): a label
  predicted but never gold, or gold but never predicted, counts with F1 0;
* f1_micro: F1 of the counts summed over those labels (equal to accuracy);
* f1: the paper's table score, f1_binary when the dataset's labels are exactly
  {"0", "1"} (GAD) and f1_macro otherwise (ChemProt).

Labels are strings ("0"/"1" for GAD, "CPR:3", ..., "false" for ChemProt).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one predicted label (string) per example.
    references: one gold label (string) per example.
    labels (optional): the dataset's label set; it decides binary (exactly "0", "1")
        or multi-class scoring.  Default: the labels of references and predictions.
Returns:
    f1, f1_macro, f1_micro, and for a binary label set f1_binary.
Examples:
    >>> re = evaluate.load(compactbio.metrics.modules.path("relation_extraction"))
    >>> re.compute(predictions=["1", "0", "1", "0", "1"], references=["1", "1", "0", "0", "1"], labels=["0", "1"])
    {'f1': 0.6666666666666666, 'f1_binary': 0.6666666666666666, 'f1_macro': 0.5833333333333333, 'f1_micro': 0.6}
"""

_CITATION = PAPER_BIBTEX + """
@article{lee2020biobert,
  title = {{BioBERT}: a pre-trained biomedical language representation model for biomedical text mining},
  author = {Lee, Jinhyuk and Yoon, Wonjin and Kim, Sungdong and Kim, Donghyeon and Kim, Sunkyu and
            So, Chan Ho and Kang, Jaewoo},
  journal = {Bioinformatics},
  volume = {36},
  number = {4},
  pages = {1234--1240},
  year = {2020},
  doi = {10.1093/bioinformatics/btz682}
}
@article{scikit-learn,
  title = {Scikit-learn: Machine Learning in {P}ython},
  author = {Pedregosa, F. and Varoquaux, G. and Gramfort, A. and Michel, V. and Thirion, B. and Grisel, O. and
            Blondel, M. and Prettenhofer, P. and Weiss, R. and Dubourg, V. and Vanderplas, J. and Passos, A. and
            Cournapeau, D. and Brucher, M. and Perrot, M. and Duchesnay, E.},
  journal = {Journal of Machine Learning Research},
  volume = {12},
  pages = {2825--2830},
  year = {2011}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RelationExtraction(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Value("string"),
                "references": datasets.Value("string"),
            }),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html",
                            "https://doi.org/10.1093/bioinformatics/btad103"],
        )

    def _compute(self, predictions, references, labels=None):
        if labels is None:
            labels = sorted(set(references) | set(predictions))
        else:
            labels = list(labels)
            unknown = sorted((set(references) | set(predictions)) - set(labels))
            if unknown:
                raise ValueError(f"labels {unknown} occur in the predictions or references but not in `labels`")
        return re_scores(references, predictions, labels)
