"""A report as a list of plain blocks, rendered to self-contained HTML and to Markdown.

The risk report (:mod:`bayescale.report.risk`) decides *what* to say; this module only knows
how to say it in two formats, so the HTML page and its Markdown twin cannot drift apart.  The
HTML embeds figures as base64 PNG and its CSS inline: no scripts, no network.  The Markdown
refers to the PNG files written beside it.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Bullets", "Document", "Figure", "Heading", "Para", "Pre", "Table", "html_text"]


@dataclass(frozen=True)
class Heading:
    """A section title; ``level`` 2 for sections, 3 for subsections."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    """A paragraph of plain text; ``kind`` ``"answer"`` or ``"note"`` styles it in HTML."""

    text: str
    kind: str = ""


@dataclass(frozen=True)
class Bullets:
    """A bulleted list; ``kind="warnings"`` renders it as a highlighted box."""

    items: tuple[str, ...]
    kind: str = ""


@dataclass(frozen=True)
class Table:
    """A table of already-formatted strings (the index is not shown)."""

    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class Pre:
    """Preformatted text (formulas, citations, diagnostics)."""

    text: str


@dataclass(frozen=True)
class Figure:
    """A PNG image with a file stem (for the Markdown twin) and a caption."""

    name: str
    png: bytes = field(repr=False)
    caption: str = ""


Block = Heading | Para | Bullets | Table | Pre | Figure

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1b1f24;
       max-width: 980px; margin: 2em auto; padding: 0 1.2em; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1.05em; margin-top: 1.3em; }
p.answer { background: #eef6ff; border-left: 5px solid #0969da; padding: .8em 1em;
           font-size: 1.05em; }
p.note { color: #57606a; font-size: .92em; }
ul.warnings { background: #fff8e5; border-left: 5px solid #d4a72c; padding: .7em 1em .7em 2.2em; }
ul.warnings li { margin: .3em 0; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3em; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { color: #57606a; font-size: .9em; }
span.num { white-space: nowrap; }
sup { font-size: .75em; line-height: 0; }
pre { background: #f6f8fa; padding: .7em; overflow-x: auto; font-size: .85em;
      white-space: pre-wrap; }
footer { color: #57606a; font-size: .85em; margin-top: 3em; }
"""


@dataclass
class Document:
    """A titled list of blocks with HTML and Markdown renderers.

    Examples
    --------
    >>> from bayescale.report.document import Document, Heading, Para
    >>> doc = Document("Budget report", [Heading("Answer"), Para("Train 63B parameters.")])
    >>> "<h2>Answer</h2>" in doc.to_html()
    True
    >>> print(doc.to_markdown("report_files"))
    # Budget report
    <BLANKLINE>
    ## Answer
    <BLANKLINE>
    Train 63B parameters.
    <BLANKLINE>
    """

    title: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def figures(self) -> list[Figure]:
        """The figures, in order."""
        return [b for b in self.blocks if isinstance(b, Figure)]

    # ------------------------------------------------------------------ HTML
    def to_html(self) -> str:
        """The whole page: inline CSS, figures as base64 PNG, no scripts or external links."""
        out = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(self.title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        out += [_html_block(b) for b in self.blocks]
        out += ["</body>", "</html>", ""]
        return "\n".join(out)

    # ------------------------------------------------------------------ Markdown
    def to_markdown(self, figure_dir: str) -> str:
        """Markdown text; figures are linked as ``figure_dir/<name>.png``."""
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            out += [_md_block(b, figure_dir), ""]
        return "\n".join(out)


# A number in the compact scientific notation of bayescale.formatting.fmt_sci ("5.76e23",
# "1e22", "-3.2e-5"), standing alone: not part of a word, a hash or a longer number.
_SCI_RE = re.compile(r"(?<![\w.+-])(-?\d(?:\.\d+)?)e(-?\d{1,3})(?![\w.])")


def _sci_html(m: re.Match) -> str:
    mant, exp = m.group(1), int(m.group(2))
    power = f"10<sup>{'&minus;' if exp < 0 else ''}{abs(exp)}</sup>"
    if mant in ("1", "-1"):  # 1e22 -> 10^22
        return f'<span class="num">{"&minus;" if mant == "-1" else ""}{power}</span>'
    mant = mant.replace("-", "&minus;")
    return f'<span class="num">{mant}&#8239;&times;&#8239;{power}</span>'


def html_text(text: str) -> str:
    """Escape text for HTML and typeset its numbers: ``5.76e23`` becomes 5.76 x 10^23.

    The report's text writes large and small numbers in compact scientific notation (readable
    in Markdown and on a terminal); the HTML page shows them with a superscript exponent.

    Examples
    --------
    >>> from bayescale.report.document import html_text
    >>> html_text("1e22 < 2")
    '<span class="num">10<sup>22</sup></span> &lt; 2'
    >>> html_text("5.76e23")
    '<span class="num">5.76&#8239;&times;&#8239;10<sup>23</sup></span>'
    """
    return _SCI_RE.sub(_sci_html, html.escape(str(text)))


def _html_block(b: Block) -> str:
    esc, txt = html.escape, html_text
    if isinstance(b, Heading):
        return f"<h{b.level}>{txt(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        cls = f' class="{b.kind}"' if b.kind else ""
        return f"<p{cls}>{txt(b.text)}</p>"
    if isinstance(b, Bullets):
        cls = f' class="{b.kind}"' if b.kind else ""
        items = "".join(f"<li>{txt(i)}</li>" for i in b.items)
        return f"<ul{cls}>{items}</ul>"
    if isinstance(b, Table):
        cap = f"<caption>{txt(b.caption)}</caption>" if b.caption else ""
        head = "".join(f"<th>{txt(str(c))}</th>" for c in b.frame.columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{txt(str(v))}</td>" for v in row) + "</tr>"
            for row in b.frame.itertuples(index=False)
        )
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(b, Pre):
        return f"<pre>{esc(b.text)}</pre>"
    if isinstance(b, Figure):
        data = base64.b64encode(b.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(b.caption)}">'
                f"<figcaption>{txt(b.caption)}</figcaption></figure>")
    raise TypeError(f"unknown report block {type(b).__name__}")


def _md_cell(v: object) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _md_block(b: Block, figure_dir: str) -> str:
    if isinstance(b, Heading):
        return f"{'#' * b.level} {b.text}"
    if isinstance(b, Para):
        return f"> {b.text}" if b.kind == "answer" else b.text
    if isinstance(b, Bullets):
        return "\n".join(f"- {i}" for i in b.items)
    if isinstance(b, Table):
        cols = [_md_cell(c) for c in b.frame.columns]
        lines = [f"**{b.caption}**", ""] if b.caption else []
        lines += ["| " + " | ".join(cols) + " |",
                  "|" + "|".join(":--" if i == 0 else "--:" for i in range(len(cols))) + "|"]
        lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |"
                  for row in b.frame.itertuples(index=False)]
        return "\n".join(lines)
    if isinstance(b, Pre):
        return f"```\n{b.text}\n```"
    if isinstance(b, Figure):
        return f"![{b.caption}]({figure_dir}/{b.name}.png)\n\n*{b.caption}*"
    raise TypeError(f"unknown report block {type(b).__name__}")


def figure_png(fig, *, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


def table(rows: Sequence[Sequence[object]], columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame of strings from rows of values (for :class:`Table`)."""
    return pd.DataFrame([[str(v) for v in r] for r in rows], columns=list(columns))
