"""MkDocs hooks: the docs pages link to files of the repository outside ``docs/`` (``../parity/README.md``,
the result charts under ``../tests/``) by their relative paths, which work on GitHub as written. For the
site, each such file that exists is added under ``_repo/`` (and, for a Markdown file, the files it links
to in turn) and the links are pointed there; a link to a file that does not exist is left alone, so
``mkdocs build --strict`` fails on it."""
import os
import posixpath
import re

from mkdocs.structure.files import File

PREFIX = '_repo/'
LINK = re.compile(r'\]\(([^)\s#]+)(#[^)\s]*)?\)')


def _root(config):
    return os.path.dirname(os.path.abspath(config['config_file_path']))


def _targets(text, base):
    """Repository-relative paths of the relative links in ``text`` of a file in folder ``base``."""
    for match in LINK.finditer(text):
        link = match.group(1)
        if '://' in link or link.startswith(('/', 'mailto:')):
            continue
        yield posixpath.normpath(posixpath.join(base, link))


def on_files(files, config):
    root, docs = _root(config), os.path.relpath(config['docs_dir'], _root(config)).replace(os.sep, '/')
    todo = []
    for f in files.documentation_pages():
        with open(f.abs_src_path, encoding='utf-8') as fh:
            todo += [t for t in _targets(fh.read(), posixpath.dirname(posixpath.join(docs, f.src_uri)))
                     if not t.startswith(docs + '/')]
    added = set()
    while todo:
        rel = todo.pop()
        path = os.path.join(root, rel)
        if rel in added or rel.startswith(('..', docs + '/')) or not os.path.isfile(path):
            continue
        added.add(rel)
        files.append(File.generated(config, PREFIX + rel, abs_src_path=path))
        if rel.endswith('.md'):
            with open(path, encoding='utf-8') as fh:
                todo += list(_targets(fh.read(), posixpath.dirname(rel)))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri.startswith(PREFIX):
        return markdown
    depth = page.file.src_uri.count('/')
    up = '../' * (depth + 1)
    # a docs page at depth d reaches the repository root with d + 1 '../'; _repo/ sits at the docs root
    return markdown.replace('](' + up, '](' + '../' * depth + PREFIX)
