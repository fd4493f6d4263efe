#!/usr/bin/python3
"""The console's message catalogs agree (ctest console_i18n).

Checks that console/assets/i18n/zh-CN.json and en.json have the same keys,
that each key has the same {placeholders} in both, that no text is empty,
that every enum value of proto/tongban/v1/*.proto (but *_UNSPECIFIED) has
its words ("enum.NODE_STATUS_ACTIVE"), except the records' enums, whose
words records/words.h holds and the console merges in when it loads the
catalogs (console/record_words.h; records_test checks that table against
the protos): for those, and the inquiry and notice states, a catalog key
would be a second home and is a problem. And that every message the page's
script asks for exists: literal t('key') calls, and the page and form
names it builds keys from. Prints every problem; exits 1 if there is one.
"""
import json
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[2]
assets = root / "console" / "assets"
problems = []


def load(name):
    try:
        return json.loads((assets / "i18n" / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        problems.append(f"{name}: {e}")
        return {}


zh, en = load("zh-CN.json"), load("en.json")
for key in sorted(set(zh) - set(en)):
    problems.append(f"en.json lacks {key} (zh-CN.json has it)")
for key in sorted(set(en) - set(zh)):
    problems.append(f"zh-CN.json lacks {key} (en.json has it)")
placeholder = re.compile(r"\{(\w+)\}")
for key in sorted(set(zh) & set(en)):
    a, b = set(placeholder.findall(zh[key])), set(placeholder.findall(en[key]))
    if a != b:
        problems.append(f"{key}: placeholders differ: zh-CN {sorted(a)}, en {sorted(b)}")
for name, catalog in (("zh-CN.json", zh), ("en.json", en)):
    for key, text in catalog.items():
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{name}: {key} is empty")

# The enums records/words.h gives words to (console/record_words.cc merges
# them in), and the states of inquiries and notices (records/workflow_state.h).
RECORD_ENUMS = ("RECORD_KIND_", "SEX_", "MARITAL_STATUS_", "RETURN_TYPE_", "CERTIFICATE_TYPE_",
                "SERVICE_TYPE_", "ENTITLEMENT_STATUS_", "INQUIRY_TYPE_", "OPERATION_", "PURPOSE_",
                "ID_FINDING_", "LINK_ROLE_")
RECORD_STATES = {"sent", "received", "open", "answered", "answered_late", "acknowledged",
                 "acknowledged_late", "awaiting_feedback", "overdue", "withdrawn"}
for name, catalog in (("zh-CN.json", zh), ("en.json", en)):
    for key in catalog:
        if key.startswith(tuple("enum." + p for p in RECORD_ENUMS)) or (
                key.startswith("state.") and key[len("state."):] in RECORD_STATES):
            problems.append(f"{name}: {key} is a word of records/words.h; drop it here")
for proto in sorted((root / "proto" / "tongban" / "v1").glob("*.proto")):
    for value in re.findall(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*\d+\s*;", proto.read_text(), re.M):
        if value.endswith("_UNSPECIFIED") or value.startswith(RECORD_ENUMS):
            continue
        if f"enum.{value}" not in zh:
            problems.append(f"{proto.name}: enum value {value} has no words (enum.{value})")

script = (assets / "app.js").read_text(encoding="utf-8")
wanted = set(re.findall(r"\bt\('([a-z_]+(?:\.[a-z_]+)+)'", script))
pages = re.search(r"const PAGES = \{(.*?)\n\};", script, re.S)
forms = re.search(r"const FORM_ORDER = \[(.*?)\];", script, re.S)
if not pages or not forms:
    problems.append("app.js: PAGES or FORM_ORDER not found")
else:
    wanted |= {f"page.{p}" for p in re.findall(r"^\s+(\w+):", pages.group(1), re.M)}
    wanted |= {f"form.{f}" for f in re.findall(r"'(\w+)'", forms.group(1))}
    wanted |= {"page.person", "page.form"}
for key in sorted(wanted - set(zh)):
    problems.append(f"app.js asks for {key}, which the catalogs lack")

for p in problems:
    print("i18n:", p)
print(f"i18n: {len(zh)} messages in both languages" if not problems else f"i18n: {len(problems)} problems")
sys.exit(1 if problems else 0)
