#!/usr/bin/env python3
"""Writes structure-derived seeds for a fuzz target into a directory.

    python3 scripts/fuzz_seeds.py TARGET DIR

Most of the coverage a loader's fuzzer finds late is in the parsers it runs on (serde_json,
the TOML crates, roxmltree), once per place of the schema: serde gives each field's type
its own copy of the parser's code, so white space before an element of `crashes`, an end
of file inside `[simulation.context]` and a string where `speed` wants a number are each
their own edges, which random mutations reach one by one over hours (round 19 of
reports/fuzz.md). These seeds spell them out: from each source document,

- the document cut at every token boundary (an end of file in every context);
- white space, and a stray bracket or comma, put at every token boundary;
- every value replaced by one of each JSON or TOML type, and by edge cases of its own
  (empty, negative, huge, not finite, a string holding every escape of its format);
  every XML attribute value and every number of an STG graph the same way;
- every string value written as an enum in the other shapes serde reads one from (an
  object or table keyed by the string, its content null, empty, a list or a number: a unit,
  struct, tuple or newtype variant), and every member of a JSON object given twice (the
  duplicate field, and an internally tagged enum's tag twice): serde_json and serde run
  code of their own for each, which mutations reached one shape at a time (rounds 27 and
  28 of reports/fuzz.md);
- every TOML key and table defined twice, in each way TOML forbids (a key repeated, a
  dotted key through a value or into a table a header defines, a header again, an inline
  table's member twice).

Sources: fuzz/seeds/*.toml (every field of the format, and the camelCase aliases), the
shipped scenarios that fit in a fuzz input, and, for the importers, the smallest shared
data files cut down to a few tasks (the STG graph is fuzz/regressions/stg/seed-small.stg;
the shared WfCommons instances are all of schema 1.5, so the older schema's inline files
have fuzz/seeds/wfcommons-inline.json). JSON sources are the TOML ones converted. The output
is deterministic: the same tree gives the same files, named by their content's SHA-1 as
libFuzzer names its own.
"""

import hashlib
import json
import os
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LEN = 8192  # fuzz.sh's -max_len: a longer seed would be cut by libFuzzer anyway

JSON_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|[{}\[\],:]|\s+'
)
JSON_VALUES = ['null', 'true', '"s"', '""', '0', '-1', '1.5', '1e999', '-0', '[]', '{}',
               '"30m"', '"-5m"', '"NaN"', '18446744073709551616', '"\\u00e9\\ud83d\\ude00"',
               '"\\b\\f\\n\\r\\t\\"\\\\\\/\\u0001\\u007f"']
# TOML: strings of four kinds, then dates, numbers and bare keys, then punctuation.
TOML_TOKEN = re.compile(
    r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\''
    r'|#[^\n]*|[A-Za-z0-9_+\-.:]+|[\[\]{}=,]|\n|[ \t]+'
)
TOML_VALUES = ['"s"', "''", "'lit'", '"""m\nl"""', '0', '-1', '1.5', '1e999', 'nan', '-inf',
               '0x1F', '0o7', '0b1', '1_000', 'true', '[]', '{}', '[1, "a"]', '{ a = 1 }',
               '1979-05-27T07:32:00Z', '1979-05-27', '07:32:00', '"30m"', '"-5m"',
               '18446744073709551616', '"\\b\\f\\n\\r\\t\\"\\\\\\u0001\\U0001F600"']
STG_VALUES = ['-1', '0', '1.5', '4294967296', '18446744073709551616', 'x', '', '00', '+1']
XML_VALUES = ['', '-1', '0', '1.5', '1e999', 'NaN', 'abc', '&amp;', '&#x41;', '&bogus;',
              '18446744073709551616', ' 7 ']


def at_boundaries(text, tokens, pads, strays):
    """`text` cut after each token, and with one of `pads` (white space) and one of
    `strays` (punctuation out of place) put there, taken in turn."""
    out = set()
    for i, m in enumerate(tokens):
        b = m.end()
        out.add(text[:b])
        out.add(text[:b] + pads[i % len(pads)] + text[b:])
        if strays:
            out.add(text[:b] + strays[i % len(strays)] + text[b:])
    return out


def json_variants(text):
    """The seeds of a JSON document (see the module's doc)."""
    tokens = list(JSON_TOKEN.finditer(text))
    out = at_boundaries(text, tokens, ' \t\r\n', '}],:{[')
    # Values: every scalar that is not a key, and every whole object and array.
    for start, end in json_value_spans(tokens):
        for value in JSON_VALUES:
            out.add(text[:start] + value + text[end:])
        string = text[start:end]
        if string.startswith('"'):
            for content in ('null', '{}', '[]', '0'):
                out.add(text[:start] + '{' + string + ':' + content + '}' + text[end:])
    for start, end in json_member_spans(tokens):
        out.add(text[:end] + ',' + text[start:end] + text[end:])
    return out


def json_member_spans(tokens):
    """Where each member (`"key":value`) of the document's objects is: (start, end)."""
    significant = [m for m in tokens if not m.group().isspace()]
    spans = []
    for k, m in enumerate(significant):
        if k + 1 < len(significant) and significant[k + 1].group() == ':':
            # The member ends before the `,` or `}` that closes it at its own depth (at its
            # key, if no value follows: a document cut short).
            depth = 0
            end = m.end()
            for n in significant[k + 2:]:
                t = n.group()
                if t in '{[':
                    depth += 1
                elif t in '}]':
                    if depth == 0:
                        break
                    depth -= 1
                elif t == ',' and depth == 0:
                    break
                end = n.end()
            spans.append((m.start(), end))
    return spans


def json_value_spans(tokens):
    """Where each value of the document is: (start, end) of scalars and containers."""
    spans = []
    stack = []  # start offsets of open containers
    significant = [m for m in tokens if not m.group().isspace()]
    for k, m in enumerate(significant):
        t = m.group()
        is_key = k + 1 < len(significant) and significant[k + 1].group() == ':'
        if t in '{[':
            stack.append(m.start())
        elif t in '}]':
            if stack:
                spans.append((stack.pop(), m.end()))
        elif t not in ',:' and not is_key:
            spans.append((m.start(), m.end()))
    return spans


def toml_variants(text):
    """The seeds of a TOML document."""
    tokens = list(TOML_TOKEN.finditer(text))
    out = at_boundaries(text, tokens, [' ', '\t', '\n', '\r\n', '#c\n'], '[]{}=,."\'')
    # Values: the token after `=`, and the elements of arrays.
    previous = None  # the last token that is not white space
    for m in tokens:
        if previous in ('=', ',', '[') and m.group()[0] not in '[]{}=,#\n \t':
            line_start = text.rfind('\n', 0, m.start()) + 1
            # A table header's name is not a value.
            if not text[line_start:m.start()].lstrip().startswith('['):
                for value in TOML_VALUES:
                    out.add(text[:m.start()] + value + text[m.end():])
                if m.group()[0] in '"\'':
                    for content in ('{}', '[]', '0'):
                        variant = '{ ' + m.group() + ' = ' + content + ' }'
                        out.add(text[:m.start()] + variant + text[m.end():])
        if not m.group().isspace():
            previous = m.group()
    return out | toml_keys_twice(text)


TOML_KEY_LINE = re.compile(r'[ \t]*([A-Za-z0-9_\-."\']+)[ \t]*=')
TOML_HEADER = re.compile(r'[ \t]*(\[\[?)[ \t]*([^\]]+?)[ \t]*\]')
TOML_INLINE_MEMBER = re.compile(r'\{[ \t]*([A-Za-z0-9_\-]+[ \t]*=[ \t]*(?:"[^"]*"|[^,}]+?))[ \t]*[,}]')


def toml_keys_twice(text):
    """`text` with a key or a table defined twice, in each way TOML forbids: a key line
    repeated; a dotted key through a key's value (`k.x = 0` after `k = 1`); a table's key
    given first as a dotted key at the top (`config.k = 1`, then `[config]`); a table header
    again at the end, as itself and as the other kind (`[t]`, `[[t]]`); an inline table's
    first member twice. The TOML parser checks each in code of its own (its document's
    duplicate-key rules), which mutations found last (round 28 of reports/fuzz.md)."""
    out = set()
    lines = text.split('\n')
    header = None
    for i, line in enumerate(lines):
        # The document with line i replaced by `new` (one or more lines).
        def with_line(*new):
            return '\n'.join(lines[:i] + list(new) + lines[i + 1:])
        found = TOML_HEADER.match(line)
        if found:
            header = found.group(2)
            for kind in ('[{}]', '[[{}]]'):
                out.add(text.rstrip('\n') + '\n' + kind.format(header) + '\n')
            continue
        key = TOML_KEY_LINE.match(line)
        if not key:
            continue
        # Only a whole key-value line: the first line of a multi-line value, repeated,
        # would be a syntax error before any key is compared.
        try:
            tomllib.loads(line)
        except tomllib.TOMLDecodeError:
            continue
        out.add(with_line(line, line))
        out.add(with_line(line, key.group(1) + '.x = 0'))
        if header is not None:
            out.add(header + '.' + line.lstrip() + '\n' + text)
        member = TOML_INLINE_MEMBER.search(line)
        if member:
            out.add(with_line(line[:member.end(1)] + ', ' + member.group(1) + line[member.end(1):]))
    return out


def xml_variants(text):
    """The seeds of an XML document."""
    out = set()
    for m in re.finditer(r'[<>"=\s]', text):
        b = m.end()
        out.add(text[:b])
    for m in re.finditer(r'="([^"]*)"', text):
        for value in XML_VALUES:
            out.add(text[:m.start(1)] + value + text[m.end(1):])
    return out


def stg_variants(text):
    """The seeds of an STG graph: numbers and the white space between them."""
    tokens = list(re.finditer(r'\S+|\s+', text))
    out = at_boundaries(text, tokens, [' ', '\t', '\n', '\r\n', '\n#c\n'], '')
    for m in tokens:
        if not m.group().isspace():
            for value in STG_VALUES:
                out.add(text[:m.start()] + value + text[m.end():])
    return out


def journal_variants(text):
    """The seeds of a `resume` input: each line's call varied as a JSON document (the
    other lines kept), each line dropped and doubled, and each time replaced."""
    lines = text.splitlines()
    out = set()
    for i, line in enumerate(lines):
        before, after = lines[:i], lines[i + 1:]
        out.add('\n'.join(before + after))
        out.add('\n'.join(before + [line, line] + after))
        head, _, call = line.partition(' ')
        for value in STG_VALUES:
            out.add('\n'.join(before + [head[:1].strip('0123456789') + value + ' ' + call] + after))
        if call.startswith('{'):
            for variant in json_variants(call):
                out.add('\n'.join(before + [head + ' ' + variant] + after))
    return out


def scenario_sources():
    """TOML scenarios that fit in a fuzz input: the seeds of fuzz/seeds, then the shipped."""
    paths = sorted((ROOT / 'fuzz' / 'seeds').glob('*.toml'))
    paths += sorted(p for p in (ROOT / 'scenarios').glob('*.toml') if p.stat().st_size <= 4096)
    paths += sorted((ROOT / 'scenarios' / 'invalid').glob('*.toml'))
    return [p.read_text() for p in paths]


def as_json(toml_text):
    """A TOML scenario as JSON, or None if it does not parse (an invalid one)."""
    try:
        return json.dumps(tomllib.loads(toml_text), separators=(',', ':'))
    except (tomllib.TOMLDecodeError, TypeError, ValueError):
        return None


def small_wfcommons():
    """The shared WfCommons instances cut to their first three tasks."""
    out = []
    data = ROOT.parent / 'shared' / 'data' / 'wfcommons'
    for path in sorted(data.rglob('*.json'))[:12]:
        try:
            doc = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        cut_lists(doc, 3)
        text = json.dumps(doc, separators=(',', ':'))
        if len(text) <= MAX_LEN:
            out.append(text)
    return out


def cut_lists(value, n):
    """Every list in `value` cut to its first `n` elements, in place."""
    if isinstance(value, dict):
        for v in value.values():
            cut_lists(v, n)
    elif isinstance(value, list):
        del value[n:]
        for v in value:
            cut_lists(v, n)


def small_dax():
    """The shared DAX and XML workflows cut to their first few jobs and dependencies."""
    out = []
    data = ROOT.parent / 'shared' / 'data'
    paths = sorted(p for p in data.rglob('*') if p.suffix in ('.dax', '.xml'))[:8]
    for path in paths:
        small = '\n'.join(first_elements(path.read_text(errors='replace').splitlines()))
        if len(small) <= MAX_LEN:
            out.append(small)
    return out


def first_elements(lines):
    """The lines of a workflow written one element per line, with each `job`, `child` and
    `task` element after the first three of its kind dropped, its body (up to its closing
    tag, or the next element of those kinds) with it."""
    out = []
    counts = {}
    skipping = False
    for line in lines:
        tag = re.match(r'\s*<(job|child|task)\b', line)
        if tag:
            counts[tag.group(1)] = counts.get(tag.group(1), 0) + 1
            skipping = counts[tag.group(1)] > 3
            if skipping:
                continue
        if skipping:
            if re.match(r'\s*</(job|child|task)>', line):
                skipping = False
            elif re.match(r'\s*<(/adag|/workflow)', line):
                skipping = False
                out.append(line)
            continue
        out.append(line)
    return out


def seeds(target):
    """Every seed of `target`, as bytes."""
    sources = scenario_sources()
    if target == 'scenario_toml':
        return {s.encode() for t in sources for s in toml_variants(t)}
    if target == 'scenario_json':
        docs = [j for j in map(as_json, sources) if j]
        return {s.encode() for d in docs for s in json_variants(d)}
    if target == 'pieces':
        # Its first byte chooses the format (even: TOML, odd: JSON) and the piece size;
        # only the seeds of fuzz/seeds, which reach every field.
        own = [p.read_text() for p in sorted((ROOT / 'fuzz' / 'seeds').glob('*.toml'))]
        out = {b'\x00' + s.encode() for t in own for s in toml_variants(t)}
        out |= {b'\x01' + s.encode() for t in own if as_json(t) for s in json_variants(as_json(t))}
        return out
    if target == 'wfcommons':
        # The shared instances are all WfCommons 1.5; the older schema (tasks with their
        # files inline, under `tasks` or `jobs`) has a seed of its own, in both spellings.
        inline = json.loads((ROOT / 'fuzz' / 'seeds' / 'wfcommons-inline.json').read_text())
        docs = small_wfcommons() + [json.dumps(inline, separators=(',', ':'))]
        inline['workflow']['jobs'] = inline['workflow'].pop('tasks')
        docs.append(json.dumps(inline, separators=(',', ':')))
        return {s.encode() for d in docs for s in json_variants(d)}
    if target == 'resume':
        journal = (ROOT / 'fuzz' / 'seeds' / 'journal.txt').read_text()
        return {s.encode() for s in journal_variants(journal)}
    if target == 'stg':
        graph = (ROOT / 'fuzz' / 'regressions' / 'stg' / 'seed-small.stg').read_text()
        return {s.encode() for s in stg_variants(graph)}
    if target == 'dax':
        return {s.encode() for d in small_dax() for s in xml_variants(d)}
    return set()


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: fuzz_seeds.py TARGET DIR')
    target, directory = sys.argv[1], Path(sys.argv[2])
    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    for seed in sorted(seeds(target)):
        if len(seed) > MAX_LEN:
            continue
        name = directory / hashlib.sha1(seed).hexdigest()
        if not name.exists():
            name.write_bytes(seed)
            written += 1
    print(f'fuzz_seeds: {target}: {written} new seeds in {directory}', file=sys.stderr)


if __name__ == '__main__':
    main()
