"""report.html: one self-contained page (inline CSS, images as data: URIs, no script, no links out).

Every text from the inputs (title, scene titles, screening ids, group names,
warnings) goes through ``html.escape``; viewers appear only as counts.
"""

import html
from typing import Dict, List, Optional, Tuple

from .inputs import timecode

_CSS = """body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#111}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:2px 6px;text-align:right}
td.t,th.t{text-align:left}img{max-width:100%}.warn{color:#a00}"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _p(x: Optional[float]) -> str:
    return "" if x is None else "{:.1f}%".format(100 * x)


def _n(x: Optional[float], digits: int = 2) -> str:
    return "" if x is None else "{:.{}f}".format(x, digits)


def _img(b64: str, alt: str) -> str:
    return '<img alt="{}" src="data:image/png;base64,{}">'.format(_e(alt), b64)


def _table(header: List[str], rows: List[List[str]], text_cols: Tuple[int, ...] = ()) -> str:
    head = "".join(
        '<th class="t">{}</th>'.format(_e(h)) if i in text_cols else "<th>{}</th>".format(_e(h))
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>{}</tr>".format(
            "".join(
                '<td class="t">{}</td>'.format(_e(c)) if i in text_cols else "<td>{}</td>".format(_e(c))
                for i, c in enumerate(row)
            )
        )
        for row in rows
    )
    return "<table><tr>{}</tr>{}</table>".format(head, body)


def render(r: Dict, images: Dict[str, str], rasters: List[Tuple[str, str]]) -> str:
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        # No request may leave the file: the policy forbids everything but inline images and styles.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\">",
        "<title>{}</title><style>{}</style></head><body>".format(_e(r["title"]), _CSS),
        "<h1>{}</h1>".format(_e(r["title"])),
        "<p>{} screenings, {} viewers, film length {}. Share of present viewers laughing, per film second, "
        "smoothed over {} s; band: {}.</p>".format(
            r["screenings"], r["viewers"], timecode(r["film_s"]), r["smoothing_s"], _e(r["interval"])
        ),
        "<h2>Laugh curve</h2>",
        _img(images["curve"], "laugh curve"),
        "<h2>Top moments</h2>",
        _table(
            [
                "rank",
                "film time",
                "peak share (smoothed)",
                "95% interval",
                "viewers laughing (peak second)",
                "screenings laughing (peak second)",
            ],
            [
                [
                    str(m["rank"]),
                    m["timecode"],
                    _p(m["peak_share"]),
                    "{} - {}".format(_p(m["low"]), _p(m["high"])),
                    "{} of {}".format(m["viewers_laughing"], m["viewers_present"]),
                    "{} of {}".format(m["screenings_laughing"], r["screenings"]),
                ]
                for m in r["moments"]
            ],
        ),
    ]
    if r["scenes"]:
        norms = "norm_percentile" in r["scenes"][0]
        parts += [
            "<h2>Scenes</h2>",
            _table(
                [
                    "rank",
                    "scene",
                    "start",
                    "end",
                    "laughs / viewer-minute (95%)",
                    "laughed at least once (95%)",
                    "mean laugh s (95%)",
                ]
                + (["percentile among stored scenes"] if norms else []),
                [
                    [
                        str(s["rank"]),
                        s["title"],
                        timecode(s["start_s"]),
                        timecode(s["end_s"]),
                        "{} ({} - {})".format(
                            _n(s["laughs_per_viewer_minute"]),
                            _n(s["laughs_per_viewer_minute_low"]),
                            _n(s["laughs_per_viewer_minute_high"]),
                        ),
                        "{} ({} - {})".format(
                            _p(s["share_laughed"]), _p(s["share_laughed_low"]), _p(s["share_laughed_high"])
                        ),
                        "{} ({} - {})".format(
                            _n(s["mean_laugh_s"], 1), _n(s["mean_laugh_s_low"], 1), _n(s["mean_laugh_s_high"], 1)
                        ),
                    ]
                    + ([_n(s.get("norm_percentile"), 0)] if norms else [])
                    for s in r["scenes"]
                ],
                text_cols=(1,),
            ),
        ]
    c = r.get("comparison")
    if c:
        a, b = c["groups"]
        parts += [
            "<h2>Comparison: {} minus {}</h2>".format(_e(a), _e(b)),
            "<p>{}: {}. {}: {}.</p>".format(
                _e(a), _e(", ".join(c["members"][a])), _e(b), _e(", ".join(c["members"][b]))
            ),
            _img(images["difference"], "difference curve"),
        ]
        if c["scenes"]:
            parts.append(
                _table(
                    ["scene", a + " laughs/viewer-min", b + " laughs/viewer-min", "difference", "permutation p"],
                    [[s["title"], _n(s[a]), _n(s[b]), _n(s["difference"]), _n(s["p_value"], 3)] for s in c["scenes"]],
                    text_cols=(0,),
                )
            )
    parts.append("<h2>Data quality</h2>")
    parts.append(
        _table(
            ["screening", "viewers", "mean time on screen", "film time with a face", "skipped frames", "warnings"],
            [
                [
                    q["screening"],
                    str(q["viewers"]),
                    "{:.0f} s".format(q["mean_on_screen_s"]),
                    _p(q["face_share"]),
                    str(q["skipped_frames"]),
                    "; ".join(q["warnings"]),
                ]
                for q in r["quality"]
            ],
            text_cols=(0, 5),
        )
    )
    parts.append("<h2>Screenings</h2><p>One row per viewer: grey on screen, green laughing.</p>")
    for sid, png in rasters:
        parts.append("<h3>{}</h3>{}".format(_e(sid), _img(png, "raster " + sid)))
    parts.append("</body></html>\n")
    return "\n".join(parts)
