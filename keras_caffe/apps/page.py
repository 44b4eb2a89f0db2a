"""The web demo's one page, hand-written HTML in the layout of Caffe's
``examples/web_demo/templates/index.html``: the result (the image, "Maximally accurate" and
"Maximally specific" lists with their scores, the time the net took) or an error, then the
URL and upload forms and the quick examples.  No script or style is fetched from elsewhere.

Elements a test (or a script) reads: ``#error``, ``#result``, ``#accurate li`` and
``#specific li`` (each with ``.name`` and ``.score``), ``#time``, ``#imagefile``."""

from __future__ import annotations

import html
from dataclasses import dataclass

__all__ = ["Result", "render"]

_STYLE = """
body { font-family: "Helvetica Neue", Helvetica, Arial, sans-serif; line-height: 1.5em;
       color: #232323; margin: 0 auto; max-width: 56em; padding: 0 1em; }
h1, h2 { font-family: Times, serif; border-bottom: 1px solid #ccc; }
h1 a { color: inherit; text-decoration: none; }
.error { background: #f2dede; border: 1px solid #ebccd1; color: #a94442; padding: .8em; }
#result { display: flex; gap: 1.5em; align-items: flex-start; }
#image { width: 192px; height: 192px; object-fit: contain; image-rendering: pixelated;
         border: 1px solid #ccc; background: #eee; }
.lists { display: flex; gap: 1.5em; flex-wrap: wrap; }
.lists section { min-width: 14em; }
ol { padding-left: 1.4em; }
.score { float: right; margin-left: 1em; background: #777; color: #fff;
         border-radius: .8em; padding: 0 .6em; font-size: 85%; }
form { margin: 1em 0; }
#samples img { width: 56px; height: 56px; image-rendering: pixelated; border: 1px solid #ccc; }
"""


@dataclass
class Result:
    """One classified image: ``specific`` (the net's top labels) and ``accurate`` (hedged
    nodes; None without a hierarchy) as (name, score) pairs, the seconds the net took, and
    the image as a ``data:`` URL."""

    specific: list[tuple[str, float]]
    accurate: list[tuple[str, float]] | None
    seconds: float
    image_url: str = ""
    source: str = ""

    def as_json(self) -> dict:
        return {"ok": True, "source": self.source,
                "specific": [[n, s] for n, s in self.specific],
                "accurate": None if self.accurate is None else [[n, s] for n, s in self.accurate],
                "seconds": round(self.seconds, 6)}


def _list(section_id: str, title: str, items, empty: str) -> str:
    if items is None:
        body = f"<p class='note'>{html.escape(empty)}</p>"
    else:
        rows = "".join(f"<li><span class='score'>{s:.5f}</span>"
                       f"<span class='name'>{html.escape(n)}</span></li>" for n, s in items)
        body = f"<ol>{rows}</ol>"
    return f"<section id='{section_id}'><h2>{title}</h2>{body}</section>"


def render(title: str, about: str, *, result: Result | None = None, error: str | None = None,
           samples=(), max_upload: int = 0) -> str:
    """The page, with a ``result`` or an ``error`` message when there is one; ``samples``:
    names of the quick-example images (``/samples/NAME.png``)."""
    parts = [f"<h1><a href='/'>{html.escape(title)}</a></h1>", f"<p>{html.escape(about)}</p>"]
    if error is not None:
        parts.append(f"<div id='error' class='error' role='alert'>{html.escape(error)} "
                     "Did you provide a valid URL or a valid image file?</div><hr>")
    elif result is not None:
        src = html.escape(result.image_url, quote=True)
        image = f"<img id='image' alt='the classified image' src='{src}'>" if src else ""
        lists = (_list("accurate", "Maximally accurate", result.accurate,
                       "No class hierarchy was given (serve --hierarchy FILE).")
                 + _list("specific", "Maximally specific", result.specific, ""))
        parts.append(f"<div id='result'>{image}<div class='lists'>{lists}</div></div>"
                     f"<p id='time'>CNN took <span>{result.seconds:.3f}</span> seconds.</p><hr>")
    limit = f" (at most {max_upload / 2 ** 20:.0f} MB)" if max_upload >= 2 ** 20 else ""
    parts.append(
        "<form id='formurl' action='/classify_url' method='get'>"
        "<input type='text' name='imageurl' id='imageurl' size='50' "
        "placeholder='Provide an image URL'> "
        "<input type='submit' value='Classify URL' id='classifyurl'></form>"
        "<form id='formupload' action='/classify_upload' method='post' "
        "enctype='multipart/form-data'>"
        f"<label for='imagefile'>Or upload an image{limit}:</label> "
        "<input type='file' name='imagefile' id='imagefile' onchange='this.form.submit()'> "
        "<noscript><input type='submit' value='Classify file'></noscript></form>")
    if samples:
        links = " ".join(f"<a href='/classify_sample?name={html.escape(s)}'>"
                         f"<img src='/samples/{html.escape(s)}.png' alt='{html.escape(s)}' "
                         f"title='{html.escape(s)}'></a>" for s in samples)
        parts.append(f"<div id='samples'><p>Or click a quick example:</p>{links}</div>")
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>\n{body}\n</body></html>\n")
