"""docs/openapi.yaml against the real API: the documented (method, path, roles) set must equal the
C route tables and what running servers of each role answer, and live responses must match the
documented schemas. The YAML is read with a parser for the restricted subset described at the top
of the file (PyYAML, when installed, only cross-checks that parser)."""
import glob
import os
import re
import urllib.parse

import lib

SPEC = os.path.join(lib.REPO, "docs", "openapi.yaml")
ROUTES_GLOB = os.path.join(lib.REPO, "src", "http", "routes", "*.c")
ROUTER_C = os.path.join(lib.REPO, "src", "http", "router.c")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ROLES = ("all", "api", "process")


# ---------------------------------------------------------------------------------------------
# The YAML subset


class SubsetError(ValueError):
    pass


_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")


def _scalar(text, lineno):
    """A plain, quoted or flow-list scalar, resolved as YAML 1.1's core types would be."""
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise SubsetError("line %d: unterminated quote" % lineno)
        return text[1:-1].replace("''", "'")
    if text.startswith('"'):
        if not text.endswith('"') or len(text) < 2 or "\\" in text:
            raise SubsetError("line %d: double quotes need no escapes here" % lineno)
        return text[1:-1]
    if text.startswith("["):
        if not text.endswith("]"):
            raise SubsetError("line %d: unterminated flow list" % lineno)
        inner = text[1:-1].strip()
        items = [i.strip() for i in inner.split(",")] if inner else []
        for i in items:
            if not i or i[0] in "[]{}'\"":
                raise SubsetError("line %d: flow lists hold plain scalars only" % lineno)
        return [_scalar(i, lineno) for i in items]
    if text == "{}":
        return {}
    if text[0] in "{}&*!|>%@`#" or ": " in text or " #" in text or text.endswith(":"):
        raise SubsetError("line %d: %r is outside the subset (quote it)" % (lineno, text))
    if text.lower() in ("yes", "no", "on", "off"):
        raise SubsetError("line %d: YAML 1.1 reads %r as a boolean" % (lineno, text))
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~"):
        return None
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text):
        return float(text)
    return text


def _split_key(body, lineno):
    """'key: value' or 'key:' -> (key, value text or '')."""
    if body.startswith("'"):
        end = body.find("'", 1)
        if end < 0 or body[end + 1:end + 2] != ":":
            raise SubsetError("line %d: bad quoted key" % lineno)
        key, rest = body[1:end], body[end + 2:]
    else:
        m = re.match(r"^([^\s:'\"#][^:]*?):(?: |$)", body)
        if not m:
            raise SubsetError("line %d: expected 'key:' in %r" % (lineno, body))
        key, rest = m.group(1), body[m.end():]
    return key, rest.strip()


def parse_subset(text):
    """Parse the YAML subset that docs/openapi.yaml keeps to; SubsetError outside it."""
    lines = []
    for n, raw in enumerate(text.split("\n"), 1):
        if "\t" in raw:
            raise SubsetError("line %d: tab" % n)
        if raw.rstrip() != raw:
            raise SubsetError("line %d: trailing space" % n)
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if indent % 2:
            raise SubsetError("line %d: odd indent" % n)
        lines.append((n, indent, raw.strip()))
    pos = 0

    def value_after(rest, n, indent):
        """The value of a key whose text after ':' is rest, at indent; consumes later lines."""
        nonlocal pos
        if rest == ">-":
            parts = []
            while pos < len(lines) and lines[pos][1] > indent:
                if lines[pos][1] != lines[pos - len(parts)][1]:
                    raise SubsetError("line %d: uneven block scalar" % lines[pos][0])
                parts.append(lines[pos][2])
                pos += 1
            if not parts:
                raise SubsetError("line %d: empty block scalar" % n)
            return " ".join(parts)
        if rest.startswith("[") and not rest.endswith("]"):
            while pos < len(lines) and lines[pos][1] > indent and not rest.endswith("]"):
                rest += " " + lines[pos][2]
                pos += 1
            return _scalar(rest, n)
        if rest:
            return _scalar(rest, n)
        if pos < len(lines) and lines[pos][1] > indent:
            return block(lines[pos][1])
        if pos < len(lines) and lines[pos][1] == indent and lines[pos][2].startswith("- "):
            return block(indent)  # a sequence may sit at its key's own indent
        return None

    def mapping_entries(out, indent, first=None):
        nonlocal pos
        while pos < len(lines) or first:
            if first:
                n, body = first
                first = None
            else:
                n, ind, body = lines[pos]
                if ind < indent:
                    break
                if ind > indent or body.startswith("- "):
                    raise SubsetError("line %d: unexpected indent or sequence item" % n)
                pos += 1
            key, rest = _split_key(body, n)
            if key in out:
                raise SubsetError("line %d: duplicate key %r" % (n, key))
            out[key] = value_after(rest, n, indent)
        return out

    def block(indent):
        nonlocal pos
        if lines[pos][2].startswith("- ") or lines[pos][2] == "-":
            items = []
            while pos < len(lines) and lines[pos][1] == indent and lines[pos][2].startswith("- "):
                n, _, body = lines[pos]
                pos += 1
                item = body[2:].strip()
                if re.match(r"^('[^']*'|[^\s'\"\[{][^:]*?):( |$)", item):
                    items.append(mapping_entries({}, indent + 2, (n, item)))
                else:
                    items.append(_scalar(item, n))
            return items
        return mapping_entries({}, indent)

    doc = block(0)
    if pos != len(lines):
        raise SubsetError("line %d: unexpected dedent" % lines[pos][0])
    return doc


def load_spec():
    with open(SPEC, encoding="utf-8") as f:
        return f.read()


# ---------------------------------------------------------------------------------------------
# Route sets


def documented_routes(doc):
    """{(METHOD, path): frozenset(roles)} from the parsed document."""
    out = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert method in METHODS, "%s: %r is not an operation" % (path, method)
            out[(method.upper(), path)] = frozenset(op["x-kho-roles"])
    return out


def documented_routes_by_line(text):
    """The (METHOD, path) pairs of the paths: section read line by line, as the header says."""
    pairs, path, inside = set(), None, False
    for line in text.split("\n"):
        if re.match(r"^\S", line):
            inside = line.startswith("paths:")
            continue
        if not inside:
            continue
        m = re.match(r"^  (/\S*):$", line)
        if m:
            path = m.group(1)
        m = re.match(r"^    (%s):$" % "|".join(METHODS), line)
        if m:
            pairs.add((m.group(1).upper(), path))
    return pairs


def c_routes():
    """{(METHOD, pattern): frozenset(roles)} from the route tables in src/http/routes/*.c, after
    checking that every table the router walks is one of theirs."""
    out, tables = {}, set()
    entry = re.compile(r'^\s*\{\s*"([A-Z]+)"\s*,\s*"(/[^"]*)"\s*,\s*\w+\s*,\s*([^}]*)\}')
    for path in sorted(glob.glob(ROUTES_GLOB)):
        with open(path, encoding="utf-8") as f:
            src = f.read()
        tables.update(re.findall(r"const struct route (\w+)\[\]\s*=", src))
        for line in src.split("\n"):
            m = entry.match(line)
            if not m:
                continue
            flags = m.group(3)
            roles = {"all"}
            if "ROUTE_ANY_ROLE" in flags:
                roles |= {"api", "process"}
            else:
                roles.add("process" if "ROUTE_INTERNAL" in flags else "api")
            key = (m.group(1), m.group(2))
            assert key not in out, "route %s %s twice in the C tables" % key
            out[key] = frozenset(roles)
    with open(ROUTER_C, encoding="utf-8") as f:
        walked = re.search(r"tables\[\]\s*=\s*\{([^}]*)\}", f.read())
    assert walked, "no tables[] in router.c"
    names = set(re.findall(r"\w+", walked.group(1)))
    assert names <= tables, "router.c walks tables not defined in routes/*.c: %s" % (
        names - tables)
    return out


def concrete(path):
    return re.sub(r"\{[^}]+\}", "1", path)


def is_router_404(resp):
    if resp.status != 404:
        return False
    err = resp.json().get("error", {})
    return err.get("code") == "not_found" and err.get("message", "").startswith("no route for ")


def allow_of(srv, path):
    """The methods the server's router has for path (from a 405's Allow), or None if none."""
    r = srv.request("OPTIONS", concrete(path))
    if is_router_404(r):
        return None
    lib.check_error(r, 405, "method_not_allowed")
    assert "allow" in r.headers, "405 without Allow: %r" % r
    return {m.strip() for m in r.headers["allow"].split(",")}


# ---------------------------------------------------------------------------------------------
# A JSON Schema check for the OpenAPI 3.0 keywords the document uses


_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), "external $ref %r" % ref
        node = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, "dangling $ref %r" % ref
            node = node[part]
    return node


def validate(doc, schema, value, where="$"):
    s = resolve(doc, schema)
    if value is None:
        assert s.get("nullable"), "%s is null but not nullable" % where
        return
    if "oneOf" in s:
        ok = 0
        for alt in s["oneOf"]:
            try:
                validate(doc, alt, value, where)
                ok += 1
            except AssertionError:
                pass
        assert ok == 1, "%s matches %d of oneOf" % (where, ok)
        return
    t = s.get("type")
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool,
             "integer": int, "number": (int, float)}
    if t:
        assert isinstance(value, kinds[t]) and not (t in ("integer", "number") and
                                                    isinstance(value, bool)), (
            "%s: %r is not %s" % (where, value, t))
    if "enum" in s:
        assert value in s["enum"], "%s: %r not in %r" % (where, value, s["enum"])
    if isinstance(value, str):
        if "pattern" in s:
            assert re.search(s["pattern"], value), "%s: %r !~ %s" % (where, value, s["pattern"])
        if s.get("format") == "date-time":
            assert _ISO_RE.match(value), "%s: %r is not a date-time" % (where, value)
        assert len(value) >= s.get("minLength", 0), where
        assert len(value) <= s.get("maxLength", len(value)), where
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert value >= s.get("minimum", value) and value <= s.get("maximum", value), where
    if isinstance(value, list):
        assert len(value) <= s.get("maxItems", len(value)), where
        for i, v in enumerate(value):
            validate(doc, s.get("items", {}), v, "%s[%d]" % (where, i))
    if isinstance(value, dict):
        props = s.get("properties", {})
        for k in s.get("required", []):
            assert k in value, "%s lacks required %r: %r" % (where, k, value)
        for k, v in value.items():
            if k in props:
                validate(doc, props[k], v, "%s.%s" % (where, k))
            else:
                assert s.get("additionalProperties", True) is not False, (
                    "%s has undocumented %r" % (where, k))


def response_schema(doc, op_id, status):
    for item in doc["paths"].values():
        for op in item.values():
            if op["operationId"] == op_id:
                resp = resolve(doc, op["responses"][str(status)])
                return resp, resolve(doc, resp.get("content", {})).get("application/json", {}).get(
                    "schema")
    raise AssertionError("no operation %r" % op_id)


def check_live(doc, op_id, resp, status):
    """resp has status, the documented required headers, and a body that fits the schema."""
    assert resp.status == status, "%s: expected %d, got %r" % (op_id, status, resp)
    spec, schema = response_schema(doc, op_id, status)
    for name, header in spec.get("headers", {}).items():
        if not resolve(doc, header).get("required"):
            continue
        assert name.lower() in resp.headers, "%s %d lacks header %s: %r" % (
            op_id, status, name, resp)
    if schema is not None:
        validate(doc, schema, resp.json(), op_id)
    return resp


# ---------------------------------------------------------------------------------------------
# Tests


def test_openapi_is_well_formed():
    for bad in ("a: 1 # note\n", "a:\n\tb: 1\n", "a: x: y\n", "a:\n   b: 1\n", "a: no\n"):
        try:
            parse_subset(bad)
        except SubsetError:
            continue
        raise AssertionError("the subset parser took %r" % bad)
    assert parse_subset("a:\n  - b: [1, x]\n    c: >-\n      d\n      e\n  - {}\n") == {
        "a": [{"b": [1, "x"], "c": "d e"}, {}]}
    text = load_spec()
    doc = parse_subset(text)
    try:
        import yaml  # noqa: PLC0415 - optional: the check below only runs where it is installed
    except ImportError:
        yaml = None
    if yaml is not None:
        assert yaml.safe_load(text) == doc, "the subset parser and PyYAML disagree"
    assert doc["openapi"] == "3.0.3" and doc["info"]["title"] and doc["info"]["version"]
    assert documented_routes_by_line(text) == set(documented_routes(doc)), (
        "paths: must be written one '  /path:' and '    method:' line each")

    refs = re.findall(r"\$ref: '([^']*)'", text)
    assert refs, "no $ref found"
    for ref in refs:
        resolve(doc, {"$ref": ref})
    op_ids = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = "%s %s" % (method.upper(), path)
            assert op.get("operationId") and op["operationId"] not in op_ids, where
            op_ids.add(op["operationId"])
            assert op.get("summary"), where
            roles = op.get("x-kho-roles")
            assert roles and set(roles) <= set(ROLES) and "all" in roles, where
            for name in op.get("security", []) or []:
                for scheme in name:
                    assert scheme in doc["components"]["securitySchemes"], where
            params = [resolve(doc, p) for p in op.get("parameters", [])]
            for p in params:
                assert p["in"] in ("path", "query", "header") and "schema" in p, where
            names = {p["name"] for p in params if p["in"] == "path"}
            assert names == set(re.findall(r"\{([^}]+)\}", path)), "%s path params" % where
            assert all(p.get("required") for p in params if p["in"] == "path"), where
            assert op.get("responses"), where
            for status, resp in op["responses"].items():
                assert re.match(r"^[1-5][0-9][0-9]$", status), "%s: status %r" % (where, status)
                resp = resolve(doc, resp)
                assert resp.get("description"), "%s %s" % (where, status)
                assert "X-Request-Id" in resp.get("headers", {}), "%s %s" % (where, status)
                if status >= "400":
                    schema = resp["content"]["application/json"]["schema"]
                    assert resolve(doc, schema) is doc["components"]["schemas"]["Error"], (
                        "%s %s is not an Error" % (where, status))
            if method in ("post", "put", "patch") and "requestBody" in op:
                assert resolve(doc, op["requestBody"])["content"], where


def c_args(src, start):
    """The top-level arguments of the C call whose '(' ends just before src[start]."""
    args, depth, cur, i = [], 0, "", start
    while True:
        ch = src[i]
        if ch == '"':
            end = src.index('"', i + 1)
            while src[end - 1] == "\\":
                end = src.index('"', end + 1)
            cur += src[i:end + 1]
            i = end + 1
            continue
        if ch == ")" and depth == 0:
            return args + [cur]
        if ch == "," and depth == 0:
            args.append(cur)
            cur = ""
        else:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            cur += ch
        i += 1


def test_openapi_error_codes_match_the_source():
    doc = parse_subset(load_spec())
    documented = set(doc["components"]["schemas"]["ErrorCode"]["enum"])
    used = set()
    code = re.compile(r'"([a-z]+(?:_[a-z]+)*)"')
    for path in glob.glob(os.path.join(lib.REPO, "src", "http", "**", "*.c"), recursive=True):
        with open(path, encoding="utf-8") as f:
            src = f.read()
        for m in re.finditer(r"\b(req_fail|fail_protocol)\(", src):
            args = c_args(src, m.end())
            used.update(code.findall(args[2 if m.group(1) == "req_fail" else 3]))
    with open(os.path.join(lib.REPO, "src", "http", "response.c"), encoding="utf-8") as f:
        table = f.read()
    used.update(re.findall(r'\{\s*(?:\d{3}\s*,\s*)?"([a-z_]+)"\s*,', table))
    assert "not_found" in used and "csrf_failed" in used, "the source scan found too little"
    assert documented == used, "undocumented codes %s; documented but unused %s" % (
        sorted(used - documented), sorted(documented - used))


def test_openapi_paths_equal_the_route_tables():
    doc = parse_subset(load_spec())
    docs, src = documented_routes(doc), c_routes()
    assert src, "no routes found in %s" % ROUTES_GLOB
    assert set(src) - set(docs) == set(), "undocumented routes: %s" % sorted(set(src) - set(docs))
    assert set(docs) - set(src) == set(), "documented routes that do not exist: %s" % sorted(
        set(docs) - set(src))
    for key, roles in src.items():
        assert docs[key] == roles, "%s %s: roles %s documented, %s in the table" % (
            key + (sorted(docs[key]), sorted(roles)))


def test_openapi_paths_equal_what_each_role_serves():
    doc = parse_subset(load_spec())
    docs = documented_routes(doc)
    paths = sorted({p for _, p in docs} | {p for _, p in c_routes()})
    for role in ROLES:
        srv = lib.server("--role", role)
        assert is_router_404(srv.request("OPTIONS", "/api/v1/undocumented")), "probe is blind"
        for path in paths:
            want = {m for (m, p), roles in docs.items() if p == path and role in roles}
            got = allow_of(srv, path)
            if not want:
                assert got is None, "--role %s serves undocumented %s %s" % (role, got, path)
                continue
            assert got is not None, "--role %s has no route for documented %s" % (role, path)
            assert ("HEAD" in got) == ("GET" in want), "%s: HEAD without GET or back" % path
            assert got - {"HEAD"} == want, "--role %s %s: Allow %s, documented %s" % (
                role, path, sorted(got), sorted(want))
            for method in want:
                r = srv.request(method, concrete(path))
                assert not is_router_404(r) and r.status != 405, "%s %s: %r" % (method, path, r)


def test_openapi_schemas_match_live_responses():
    doc = parse_subset(load_spec())
    srv = lib.server()
    name = lib.rand_name("oa")
    check_live(doc, "usersCreate", srv.register(name), 201)
    lib.check_error(check_live(doc, "usersCreate", srv.register(name), 409), 409, "username_taken")
    check_live(doc, "usersCreate", srv.register("X"), 400)
    login = check_live(doc, "sessionsCreate", srv.login(name), 201)
    check_live(doc, "sessionsCreate", srv.login(name, "wrong password"), 401)
    token = login.json()["token"]
    png = lib.unique_png(120, 80)
    up = check_live(doc, "imagesUpload",
                    srv.request("POST", "/api/v1/images?title=t&tags=a,b&visibility=public",
                                body=png, headers={"Content-Type": "image/png"}, token=token), 201)
    img = up.json()
    assert "gps" in img, "the owner's view lacks gps"
    check_live(doc, "imagesUpload", srv.request("POST", "/api/v1/images", body=png, headers={
        "Content-Type": "image/png"}, token=token), 200)
    check_live(doc, "imagesUpload", srv.request("POST", "/api/v1/images", body=b"x", headers={
        "Content-Type": "text/plain"}, token=token), 415)
    check_live(doc, "imagesUpload", srv.request("POST", "/api/v1/images", body=png), 401)
    anon = check_live(doc, "imagesGet", srv.request("GET", "/api/v1/images/" + img["id"]), 200)
    assert "gps" not in anon.json(), "gps shown to someone else: %r" % anon
    check_live(doc, "imagesGet", srv.request("GET", "/api/v1/images/999"), 404)
    check_live(doc, "imagesList", srv.request("GET", "/api/v1/images?limit=1", token=token), 200)
    check_live(doc, "imagesList", srv.request("GET", "/api/v1/images?limit=201", token=token), 400)
    check_live(doc, "imagesExplore", srv.request("GET", "/api/v1/explore?limit=200"), 200)
    check_live(doc, "imagesPatch", srv.json("PATCH", "/api/v1/images/" + img["id"],
                                            {"tags": ["x"]}, token=token), 200)
    check_live(doc, "imagesPatch", srv.json("PATCH", "/api/v1/images/" + img["id"], {"tags": [
        "x"]}, cookie={"kho_session": token}), 403)
    check_live(doc, "meGet", srv.request("GET", "/api/v1/me", token=token), 200)
    check_live(doc, "mePatch", srv.json("PATCH", "/api/v1/me", {"watermark": {"text": "oa"}},
                                        token=token), 200)
    check_live(doc, "mePatch", srv.json("PATCH", "/api/v1/me", {"watermark": None}, token=token),
               200)
    check_live(doc, "healthz", srv.request("GET", "/healthz"), 200)
    check_live(doc, "readyz", srv.request("GET", "/readyz"), 200)
    check_live(doc, "metrics", srv.request("GET", "/metrics"), 200)

    media = "/i/" + img["id"]
    check_live(doc, "mediaGet", srv.request("GET", media, headers={"Range": "bytes=0-9"}), 206)
    check_live(doc, "mediaGet", srv.request("GET", media, headers={"Range": "bytes=99999-"}), 416)
    check_live(doc, "mediaGet", srv.request("GET", media + "?w=7"), 400)
    check_live(doc, "mediaGet", srv.request("GET", media + "?w=64&sig=AAAA"), 403)
    etag = check_live(doc, "mediaGet", srv.request("GET", media), 200).headers["etag"]
    check_live(doc, "mediaGet", srv.request("GET", media, headers={"If-None-Match": etag}), 304)
    auto = check_live(doc, "mediaGet", srv.request("GET", media + "?w=64&fmt=auto", headers={
        "Accept": "image/webp"}), 200)
    assert auto.headers.get("vary") == "Accept", auto
    check_live(doc, "imagesDelete", srv.request("DELETE", "/api/v1/images/" + img["id"],
                                                token=token), 204)
    check_live(doc, "sessionsDelete", srv.request("DELETE", "/api/v1/sessions/current",
                                                  token=token), 204)
    check_live(doc, "meGet", srv.request("GET", "/api/v1/me", token=token), 401)


def test_openapi_media_parameters_are_the_servers():
    """Every documented query parameter of /i/{id} is one the server knows, with the documented
    range, and the server knows no other."""
    doc = parse_subset(load_spec())
    srv = lib.server()
    u = srv.new_user("oam")
    img = srv.upload_ok(u, lib.unique_png(96, 64), query={"visibility": "unlisted"})
    op = doc["paths"]["/i/{id}"]["get"]
    params = [resolve(doc, p) for p in op["parameters"]]
    query = [p for p in params if p["in"] == "query"]
    assert {p["name"] for p in query} == {"w", "h", "fit", "fmt", "q", "p", "crop", "enlarge",
                                          "sig", "share"}
    r = srv.request("GET", "/i/%s?zz=1" % img["id"])
    assert "unknown parameter" in lib.check_error(r, 400, "invalid_parameter")["message"]
    for p in query:
        s = resolve(doc, p["schema"])
        path = "/i/%s?%s=" % (img["id"], p["name"])
        good = s["enum"][0] if "enum" in s else s.get("maximum", "x")
        r = srv.request("GET", path + urllib.parse.quote(str(good)))
        if r.status >= 400:
            assert "unknown parameter" not in r.json()["error"]["message"], (p["name"], r)
        if "maximum" in s:
            r = srv.request("GET", path + str(s["maximum"] + 1))
            msg = lib.check_error(r, 400, "invalid_parameter")["message"]
            assert "'%s' must be a number from %d to %d" % (
                p["name"], s["minimum"], s["maximum"]) == msg, (p["name"], msg)
        if "enum" in s and s["type"] == "string":
            r = srv.request("GET", path + "nonsense")
            lib.check_error(r, 400, "invalid_parameter")
