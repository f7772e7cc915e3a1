// Renders the mixin into the repository's files (used by scripts/generate, not by users of
// the mixin). Rule groups are written as YAML by hand rather than with std.manifestYamlDoc,
// so that the files keep a fixed key order, block scalars for multi-line expressions,
// folded descriptions and the comment that explains each rule (a rule's hidden `comment`).
// tests/rules.rs checks that the YAML parses to exactly the mixin's JSON.
local width = 92;
local indicators = '-?:,[]{}#&*!|>\'"%@`';
local reserved = ['true', 'false', 'yes', 'no', 'on', 'off', 'null', 'y', 'n', '~'];
local has(s, sub) = std.length(std.findSubstr(sub, s)) > 0;
local isDigit(c) = has('0123456789', c);
local last(s) = std.substr(s, std.length(s) - 1, 1);
local isDuration(s) =
  std.length(std.filter(function(c) !isDigit(c), std.stringChars(std.substr(s, 0, std.length(s) - 1)))) == 0
  && has('smhd', last(s));

// A string YAML reads back unchanged without quotes.
local plainSafe(s) =
  std.length(s) > 0
  && !has(indicators, s[0])
  && s[0] != ' ' && last(s) != ' ' && last(s) != ':'
  && !has(s, ': ') && !has(s, ' #') && !has(s, '\n') && !has(s, '\t')
  && std.length(std.filter(function(r) r == std.asciiLower(s), reserved)) == 0
  && (if isDigit(s[0]) || s[0] == '.' || s[0] == '+' then isDuration(s) else true);

// Words, keeping a Go template `{{ ... }}` in one piece.
local tokens(s) = std.foldl(
  function(acc, word)
    local n = std.length(acc);
    if n > 0 && has(acc[n - 1], '{{') && !has(acc[n - 1], '}}')
    then acc[:n - 1] + [acc[n - 1] + ' ' + word]
    else acc + [word],
  std.split(s, ' '),
  [],
);

// Words into lines of at most `w` characters (a longer word gets a line of its own).
local wrap(s, w) = std.foldl(
  function(lines, word)
    if lines == [] then [word]
    else
      local n = std.length(lines);
      if std.length(lines[n - 1]) + 1 + std.length(word) <= w
      then lines[:n - 1] + [lines[n - 1] + ' ' + word]
      else lines + [word],
  tokens(s),
  [],
);

// `key: value` lines for one string, at indentation `ind`.
local scalar(ind, key, s) =
  assert std.isString(s) : '%s: expected a string, got %s' % [key, std.toString(s)];
  local head = ind + key + ':';
  if has(s, '\n') then
    local ends = std.length(s) > 0 && last(s) == '\n';
    local body = if ends then std.substr(s, 0, std.length(s) - 1) else s;
    assert !has(body, '\n\n\n') && body[0] != ' ' : '%s: unsupported multi-line string' % key;
    [head + (if ends then ' |' else ' |-')]
    + [if l == '' then '' else ind + '  ' + l for l in std.split(body, '\n')]
  else if plainSafe(s) && (std.length(head) + 1 + std.length(s) <= width || !has(s, ' ') || key == 'expr') then
    [head + ' ' + s]
  else if key != 'expr' && std.length(s) > 0 && s[0] != ' ' && last(s) != ' ' && !has(s, '  ') && !has(s, '\t') then
    [head + ' >-'] + [ind + '  ' + l for l in wrap(s, width - std.length(ind) - 2)]
  else
    [head + ' ' + std.escapeStringJson(s)];

local mapping(ind, key, obj, first) =
  local keys = first + std.sort(std.filter(function(k) !std.member(first, k), std.objectFields(obj)));
  [ind + key + ':'] + std.flattenArrays([scalar(ind + '  ', k, obj[k]) for k in keys if std.objectHas(obj, k)]);

local ruleLines(ind, rule) =
  local k = ind + '  ';
  local nameKey = if std.objectHas(rule, 'alert') then 'alert' else 'record';
  local known = ['alert', 'record', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'];
  local unknown = std.filter(function(f) !std.member(known, f), std.objectFields(rule));
  assert unknown == [] : 'rule %s: cannot render %s' % [rule[nameKey], std.toString(unknown)];
  local comment =
    if std.objectHasAll(rule, 'comment')
    then [if l == '' then k + '#' else k + '# ' + l for l in std.split(std.rstripChars(rule.comment, '\n'), '\n')]
    else [];
  local first = scalar(ind, nameKey, rule[nameKey]);
  [ind + '- ' + std.substr(first[0], std.length(ind), std.length(first[0]))] + first[1:]
  + comment
  + scalar(k, 'expr', rule.expr)
  + std.flattenArrays([scalar(k, f, rule[f]) for f in ['for', 'keep_firing_for'] if std.objectHas(rule, f)])
  + (if std.objectHas(rule, 'labels') then mapping(k, 'labels', rule.labels, ['severity']) else [])
  + (if std.objectHas(rule, 'annotations') then mapping(k, 'annotations', rule.annotations, ['summary', 'description', 'runbook_url']) else []);

local groupLines(ind, group) =
  assert std.sort(std.objectFields(group)) == ['name', 'rules'] : 'group %s: only name and rules can be rendered' % group.name;
  [ind + '- name: ' + group.name, ind + '  rules:']
  + std.join([''], [ruleLines(ind + '    ', r) for r in group.rules]);

{
  // Every rule group of the mixin: recording rules first, so that alerts evaluate on this
  // interval's recorded values.
  groups(mixin):: mixin.prometheusRules.groups + mixin.prometheusAlerts.groups,

  // The files end in a newline that `jsonnet -S` adds.
  groupsYaml(ind, groups):: std.join('\n', std.join([''], [groupLines(ind, g) for g in groups])),

  rulesFile(mixin, header)::
    header + '\ngroups:\n' + self.groupsYaml('  ', self.groups(mixin)),

  prometheusRule(mixin, header)::
    header + |||
      apiVersion: monitoring.coreos.com/v1
      kind: PrometheusRule
      metadata:
        name: slotwatch
        namespace: monitoring
        labels:
          app.kubernetes.io/name: slotwatch
          app.kubernetes.io/component: exporter
      spec:
        groups:
    ||| + self.groupsYaml('    ', self.groups(mixin)),

  dashboard(d):: std.manifestJsonEx(d, '  '),
}
