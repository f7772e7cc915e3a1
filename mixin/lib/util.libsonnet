// Helpers shared by the rules and the dashboard: durations and label selectors.
local units = { s: 1, m: 60, h: 3600, d: 86400 };
local unitNames = { s: 'second', m: 'minute', h: 'hour', d: 'day' };
local isDigit(c) = std.length(std.findSubstr(c, '0123456789')) == 1;

{
  // '10m' -> { n: 10, unit: 'm' }. Only one unit, so that the text of an alert can say it.
  parseDuration(d)::
    local len = std.length(d);
    local unit = std.substr(d, len - 1, 1);
    local digits = std.substr(d, 0, len - 1);
    assert std.isString(d) && len >= 2 && std.objectHas(units, unit)
           && std.length(std.filter(function(c) !isDigit(c), std.stringChars(digits))) == 0
           : 'duration %s: write a whole number and one of s, m, h or d, e.g. 10m' % [d];
    { n: std.parseInt(digits), unit: unit },

  // '10m' -> 600
  seconds(d)::
    local p = self.parseDuration(d);
    p.n * units[p.unit],

  // '10m' -> '10 minutes', '1h' -> '1 hour'
  humanDuration(d)::
    local p = self.parseDuration(d);
    '%d %s%s' % [p.n, unitNames[p.unit], if p.n == 1 then '' else 's'],

  // A number as PromQL and people write it: 0.05, not 0.050000000000000003.
  number(x)::
    if x == std.floor(x) && std.abs(x) < 1e15 then '%d' % x else '%g' % x,

  // selector('up', ['job="x"', '']) -> 'up{job="x"}'; empty matchers are dropped.
  selector(metric, matchers)::
    local m = std.filter(function(x) x != '', matchers);
    if m == [] then metric else '%s{%s}' % [metric, std.join(',', m)],
}
