"""Pages made from a student's notebook, safe to open: no student's script runs in anyone's browser.

A notebook's Markdown cells and its outputs may hold HTML, JavaScript and SVG the student wrote
(``<img onerror=...>``, ``<script>``, a ``Javascript`` display). nbconvert's HTML export puts them
in the page as they are, and the page is opened by the student (the feedback) or by the
instructor, in the formgrader, inside their own Jupyter session. So every page the course renders
from a submission gets two walls:

- the HTML is sanitised (``HTMLExporter.sanitize_html``, with :func:`clean_html` in place of nbconvert's
  filter of that name): nh3 (the bindings of ammonia, a maintained allowlist sanitiser) drops
  scripts, styles, event handlers and ``javascript:`` links, and nbconvert leaves JavaScript outputs
  out; headings, paragraphs, tables, images and links stay (nbconvert's own allowlist would show
  every ``<p>`` and ``<h1>`` of the lesson as text);
- the page carries a Content-Security-Policy, first in its head (``<meta http-equiv>``: it holds
  wherever the file is opened, from disk or from a server): scripts run only with a nonce made
  for that rendering (the template's own, and MathJax from its CDN), never inline, so whatever a
  sanitiser might let through does not run.

The course's templates (``templates/``) extend nbgrader's ``feedback`` and ``formgrade`` templates
and only add the policy, the nonce, and the sanitiser where nbgrader's Markdown cells skip it.
:func:`feedback_settings` is what ``grade feedback`` uses; :func:`configure_formgrader` is what the
instructor's Jupyter server needs for the formgrader's view of an autograded notebook: the nbgrader
config that server loads calls ``configure_formgrader(c)``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

TEMPLATES = Path(__file__).parent / "templates"
FEEDBACK_TEMPLATE = "course_feedback"
FORMGRADE_TEMPLATE = "course_formgrade"
MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/"  # nbconvert's default mathjax_url, any 2.7 release
# The formgrader's own inline event handlers (its navigation bar's eye icons), allowed by their exact text.
FORMGRADER_HANDLERS = ("toggle_name(true);", "toggle_name(false);")


def policy(nonce: str) -> str:
    """The Content-Security-Policy of a page rendered from a student's notebook."""
    handlers = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(h.encode()).digest()).decode()}'"
                        for h in FORMGRADER_HANDLERS)
    return (f"script-src 'nonce-{nonce}' {MATHJAX} 'unsafe-hashes' {handlers}; object-src 'none'; base-uri 'none'; "
            "form-action 'self'")


class ScriptPolicy(Preprocessor):
    """Gives each rendering a fresh script nonce and its policy (``resources``), for the course's templates.
    Without it the templates fall back to a policy that runs no script at all."""

    enabled = Bool(True, help="nbconvert skips a preprocessor that is not enabled").tag(config=True)

    def preprocess(self, nb, resources):
        nonce = secrets.token_urlsafe(18)
        resources["script_nonce"] = nonce
        resources["content_security_policy"] = policy(nonce)
        return nb, resources


def clean_html(html) -> str:
    """HTML a student wrote, without anything that runs: what the course's templates' ``clean_html`` filter does."""
    import nh3

    text = html.decode() if isinstance(html, bytes) else str(html)
    attributes = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
    attributes["*"] = {"class"}
    for level in range(1, 7):  # Markdown's heading anchors
        attributes.setdefault(f"h{level}", set()).add("id")
    return nh3.clean(text, tags=set(nh3.ALLOWED_TAGS), attributes=attributes,
                     url_schemes={"http", "https", "mailto", "data"}, link_rel="noopener noreferrer")


def feedback_settings() -> dict[str, object]:
    """nbconvert settings for ``grade feedback`` (with :class:`ScriptPolicy` among its preprocessors): the
    template ``templates/course_feedback``, which extends nbgrader's ``feedback`` (its ``conf.json``)."""
    from nbgrader.server_extensions.formgrader import handlers

    return {"HTMLExporter.sanitize_html": True, "HTMLExporter.filters": {"clean_html": f"{__name__}.clean_html"},
            "HTMLExporter.template_name": FEEDBACK_TEMPLATE,
            "HTMLExporter.template_file": f"{FEEDBACK_TEMPLATE}.html.j2",
            "HTMLExporter.extra_template_basedirs": [str(TEMPLATES), handlers.template_path]}


def formgrader_settings() -> dict[str, object]:
    """What the formgrader's HTML exporter needs (nbgrader builds it from the nbgrader config the server loads).

    The formgrader keeps nbgrader's own ``template_name`` and template folders whatever the config says
    (nbgrader 0.9.6), so the course's page is a ``template_file`` found through ``extra_template_paths``;
    it extends the ``formgrade`` template's ``index.html.j2``."""
    return {"HTMLExporter.sanitize_html": True, "HTMLExporter.filters": {"clean_html": f"{__name__}.clean_html"},
            "HTMLExporter.template_name": "formgrade", "HTMLExporter.template_file": f"{FORMGRADE_TEMPLATE}.html.j2",
            "HTMLExporter.extra_template_paths": [str(TEMPLATES / FORMGRADE_TEMPLATE)],
            "HTMLExporter.preprocessors": [f"{__name__}.ScriptPolicy"]}


def configure_formgrader(c) -> None:
    """Apply :func:`formgrader_settings` to a config (``configure_formgrader(c)`` in an ``nbgrader_config.py``)."""
    for key, value in formgrader_settings().items():
        section, name = key.split(".")
        c[section][name] = value
