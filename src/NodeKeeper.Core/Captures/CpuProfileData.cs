using System.Text.Json;

namespace NodeKeeper.Core.Captures;

/// <summary>
/// A parsed Chrome DevTools .cpuprofile, folded per function: self time (the function is the leaf of a sample) and
/// total time (the function is anywhere in the sample's stack, counted once however often it recurses). A function is
/// functionName + url + lineNumber + columnNumber of its definition, as V8 reports it.
/// </summary>
internal sealed class CpuProfileData
{
    /// <summary>V8's default sampling interval, assumed when a profile says nothing about time.</summary>
    private const double DefaultIntervalUs = 1000;

    // Per node.
    private string[] _name = [], _url = [];
    private int[] _line = [], _column = [], _parent = [], _fn = [];
    private double[] _selfUs = [], _totalUs = [];
    private List<(int Line, long Ticks)>?[] _ticks = [];

    // Per function.
    public List<int> FnNode { get; } = []; // a node of the function (name, url, line, column)
    public List<double> FnSelfUs { get; } = [];
    public List<double> FnTotalUs { get; } = [];

    public double DurationUs { get; private set; }
    public long SampleCount { get; private set; }
    /// <summary>Time in samples that are not "(idle)".</summary>
    public double ActiveUs { get; private set; }

    public string Name(int fn) => _name[FnNode[fn]];
    public string Url(int fn) => _url[FnNode[fn]];
    /// <summary>The 1-based line of the function's definition; 0 when V8 gives none.</summary>
    public int Line(int fn) => _line[FnNode[fn]] + 1;

    /// <summary>Whether the function is one of V8's pseudo-frames: (root), (idle), (program), (garbage collector).</summary>
    public bool IsMeta(int fn) => Url(fn).Length == 0 && Name(fn) is ['(', .., ')'];
    public bool IsListed(int fn) => !(IsMeta(fn) && Name(fn) is "(root)" or "(idle)");

    public static CpuProfileData Parse(Stream stream, long maxBytes)
    {
        var bytes = CaptureJson.ReadAll(stream, maxBytes, "CPU profile");
        using var doc = CaptureJson.Parse(bytes, "CPU profile");
        var p = new CpuProfileData();
        p.Load(doc.RootElement);
        p.Fold();
        return p;
    }

    private static InvalidDataException Bad(string why) => new($"not a CPU profile: {why}");

    private void Load(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("nodes", out var nodes) ||
            nodes.ValueKind != JsonValueKind.Array || nodes.GetArrayLength() == 0)
            throw Bad("no \"nodes\" array");
        var n = nodes.GetArrayLength();
        _name = new string[n]; _url = new string[n]; _line = new int[n]; _parent = new int[n];
        _selfUs = new double[n]; _totalUs = new double[n]; _ticks = new List<(int, long)>?[n];
        _column = new int[n];
        var hits = new long[n];
        var index = new Dictionary<long, int>(n);
        var children = new List<long>?[n];
        var parentIds = new long?[n];
        Array.Fill(_parent, -1);
        var i = 0;
        foreach (var node in nodes.EnumerateArray())
        {
            if (node.ValueKind != JsonValueKind.Object || CaptureJson.Long(node, "id") is not { } id)
                throw Bad($"node {i} has no id");
            if (!index.TryAdd(id, i)) throw Bad($"node id {id} appears twice");
            if (!node.TryGetProperty("callFrame", out var cf) || cf.ValueKind != JsonValueKind.Object)
                throw Bad($"node {id} has no callFrame");
            _name[i] = CaptureJson.String(cf, "functionName") ?? "";
            _url[i] = CaptureJson.String(cf, "url") ?? "";
            _line[i] = (int)Math.Clamp(CaptureJson.Long(cf, "lineNumber") ?? -1, -1, int.MaxValue - 1);
            _column[i] = (int)Math.Clamp(CaptureJson.Long(cf, "columnNumber") ?? -1, -1, int.MaxValue - 1);
            hits[i] = Math.Max(0, CaptureJson.Long(node, "hitCount") ?? 0);
            parentIds[i] = CaptureJson.Long(node, "parent");
            if (node.TryGetProperty("children", out var ch) && ch.ValueKind == JsonValueKind.Array)
                children[i] = [.. ch.EnumerateArray().Where(c => c.ValueKind == JsonValueKind.Number && c.TryGetInt64(out _)).Select(c => c.GetInt64())];
            if (node.TryGetProperty("positionTicks", out var pt) && pt.ValueKind == JsonValueKind.Array)
                _ticks[i] = [.. pt.EnumerateArray().Where(t => t.ValueKind == JsonValueKind.Object)
                    .Select(t => ((int)Math.Clamp(CaptureJson.Long(t, "line") ?? 0, 0, int.MaxValue), CaptureJson.Long(t, "ticks") ?? 0))
                    .Where(t => t.Item1 > 0 && t.Item2 > 0)];
            i++;
        }
        for (i = 0; i < n; i++)
        {
            foreach (var c in children[i] ?? [])
                if (index.TryGetValue(c, out var ci) && ci != i) _parent[ci] = i;
            if (parentIds[i] is { } pid && index.TryGetValue(pid, out var pi) && pi != i) _parent[i] = pi;
        }

        var start = CaptureJson.Double(root, "startTime");
        var end = CaptureJson.Double(root, "endTime");
        long[] samples = root.TryGetProperty("samples", out var s) && s.ValueKind == JsonValueKind.Array
            ? [.. s.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v) ? v : long.MinValue)]
            : [];
        double[] deltas = root.TryGetProperty("timeDeltas", out var d) && d.ValueKind == JsonValueKind.Array
            ? [.. d.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number ? e.GetDouble() : 0)]
            : [];
        DurationUs = start is { } a && end is { } b && b >= a ? b - a : deltas.Length > 0 ? Math.Max(0, deltas.Sum()) : 0;

        if (samples.Length > 0)
        {
            SampleCount = samples.Length;
            var dur = Durations(samples.Length, deltas, start, end);
            for (i = 0; i < samples.Length; i++)
                if (index.TryGetValue(samples[i], out var ni)) _selfUs[ni] += dur[i];
        }
        else
        {
            // No samples array: hitCount × the mean interval.
            SampleCount = hits.Sum();
            var interval = SampleCount > 0 && DurationUs > 0 ? DurationUs / SampleCount : DefaultIntervalUs;
            for (i = 0; i < n; i++) _selfUs[i] = hits[i] * interval;
        }
        if (DurationUs == 0) DurationUs = _selfUs.Sum();
    }

    /// <summary>
    /// Each sample's time, as DevTools counts it: from its timestamp to the next one (the last one up to endTime).
    /// Without timeDeltas every sample gets the mean interval.
    /// </summary>
    private double[] Durations(int count, double[] deltas, double? start, double? end)
    {
        var dur = new double[count];
        if (deltas.Length != count)
        {
            Array.Fill(dur, DurationUs > 0 ? DurationUs / count : DefaultIntervalUs);
            return dur;
        }
        var t = new double[count];
        var at = start ?? 0;
        for (var i = 0; i < count; i++) t[i] = at += deltas[i];
        for (var i = 0; i + 1 < count; i++) dur[i] = Math.Max(0, t[i + 1] - t[i]);
        var mean = count > 1 ? Math.Max(0, t[^1] - t[0]) / (count - 1) : DefaultIntervalUs;
        var last = end is { } e ? e - t[^1] : -1;
        dur[^1] = last >= 0 && last <= 10 * Math.Max(mean, 1) ? last : mean;
        return dur;
    }

    /// <summary>Assigns nodes to functions and adds every node's self time to itself and its ancestors.</summary>
    private void Fold()
    {
        var n = _name.Length;
        _fn = new int[n];
        var keys = new Dictionary<(string, string, int, int), int>();
        for (var i = 0; i < n; i++)
        {
            // Column is part of the key: two arrow functions on one line are two functions.
            var key = (_name[i], _url[i], _line[i], _column[i]);
            if (!keys.TryGetValue(key, out var f))
            {
                keys[key] = f = FnNode.Count;
                FnNode.Add(i); FnSelfUs.Add(0); FnTotalUs.Add(0);
            }
            _fn[i] = f;
        }
        var stamp = new int[FnNode.Count];
        var walk = 0;
        for (var i = 0; i < n; i++)
        {
            var us = _selfUs[i];
            if (us <= 0) continue;
            FnSelfUs[_fn[i]] += us;
            if (!(_url[i].Length == 0 && _name[i] == "(idle)")) ActiveUs += us;
            walk++;
            for (int k = i, guard = 0; k >= 0 && guard < n; k = _parent[k], guard++)
            {
                _totalUs[k] += us;
                if (stamp[_fn[k]] == walk) continue;
                stamp[_fn[k]] = walk;
                FnTotalUs[_fn[k]] += us;
            }
        }
    }

    /// <summary>The line with the most ticks over all the function's nodes; 0 without positionTicks.</summary>
    public int HotLine(int fn)
    {
        var sum = new Dictionary<int, long>();
        for (var i = 0; i < _fn.Length; i++)
            if (_fn[i] == fn)
                foreach (var (line, ticks) in _ticks[i] ?? [])
                    sum[line] = sum.GetValueOrDefault(line) + ticks;
        return sum.Count == 0 ? 0 : sum.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).First().Key;
    }

    /// <summary>
    /// The stack to the function's hottest node (most self time, else most total time), innermost first, without
    /// "(root)": each frame as (name, url, 1-based line), the innermost at <paramref name="innermostLine"/> when given,
    /// the others at their definition line (a profile has no call-site lines).
    /// </summary>
    public List<(string Name, string Url, int Line)> StackOf(int fn, int innermostLine, int max)
    {
        var hot = -1;
        for (var i = 0; i < _fn.Length; i++)
            if (_fn[i] == fn && (hot < 0 || (_selfUs[i], _totalUs[i]).CompareTo((_selfUs[hot], _totalUs[hot])) > 0)) hot = i;
        var frames = new List<(string, string, int)>();
        for (int k = hot, guard = 0; k >= 0 && guard < _fn.Length && frames.Count < max; k = _parent[k], guard++)
        {
            if (_parent[k] < 0 && _name[k] == "(root)") break;
            frames.Add((_name[k], _url[k], k == hot && innermostLine > 0 ? innermostLine : _line[k] + 1));
        }
        return frames;
    }
}
