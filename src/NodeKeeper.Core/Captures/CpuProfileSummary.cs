using System.Text.Json;

namespace NodeKeeper.Core.Captures;

/// <summary>
/// Reads the CPU captures the preload writes (a Chrome DevTools .cpuprofile, and for a stall its .json sidecar with the
/// paused stacks) into small summaries for <c>nk why</c>. Parsing uses <see cref="JsonDocument"/> only (NativeAOT);
/// input that is not what it should be raises <see cref="InvalidDataException"/> with a one-line message.
/// </summary>
public static class CpuProfileSummary
{
    public const long DefaultMaxBytes = 64L << 20;
    /// <summary>The largest stall sidecar read: a few stacks of a few hundred frames are tens of KiB.</summary>
    public const long MaxSidecarBytes = 4L << 20;
    /// <summary>How many functions a summary lists, and how many frames a stored stack keeps.</summary>
    public const int TopCount = 5, MaxFrames = 24;

    /// <summary>Summarizes a .cpuprofile; frames in files under <paramref name="appDir"/> print relative to it.</summary>
    public static CpuSummary Read(Stream cpuprofile, long maxBytes = DefaultMaxBytes, string? appDir = null) =>
        Summarize(CpuProfileData.Parse(cpuprofile, maxBytes), appDir);

    /// <summary>
    /// Summarizes a stall: the sidecar's paused stacks name the function, the profile (optional; unusable is the same
    /// as absent, and said so in <see cref="StallSummary.ProfileProblem"/>) gives its share of the busy time.
    /// </summary>
    public static StallSummary ReadStall(Stream sidecarJson, Stream? cpuprofile, string? appDir = null)
    {
        using var doc = CaptureJson.Parse(CaptureJson.ReadAll(sidecarJson, MaxSidecarBytes, "stall report"), "stall report");
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException("not a stall report: not a JSON object");
        if (CaptureJson.String(root, "kind") is { } kind && kind != "stall")
            throw new InvalidDataException($"not a stall report: kind is \"{kind}\"");
        var stacks = Stacks(root);

        CpuProfileData? data = null;
        string? problem = null;
        if (cpuprofile is not null)
        {
            try { data = CpuProfileData.Parse(cpuprofile, DefaultMaxBytes); }
            catch (InvalidDataException e) { problem = e.Message; }
            catch (IOException e) { problem = e.Message.ReplaceLineEndings(" "); }
        }
        var profile = data is null ? null : Summarize(data, appDir);
        if (data is { ActiveUs: <= 0 }) problem = "it has no busy samples";
        var usable = problem is null ? data : null;

        string function = "", frame = "";
        string? calledFrom = null, countedAs = null;
        IReadOnlyList<string> stack = [];
        int inFunction = 0;
        double? share = null;
        if (stacks.Count > 0)
        {
            // The innermost frame most of the pauses agree on; the column moves within a line, so it is not compared.
            var groups = stacks.GroupBy(s => (s[0].Function, s[0].Url, s[0].Line)).OrderByDescending(g => g.Count()).First();
            var rep = groups.First();
            inFunction = groups.Count();
            function = Name(rep[0].Function);
            frame = Show(rep[0], appDir);
            stack = [.. rep.Take(MaxFrames).Select(f => Show(f, appDir))];
            var caller = CpuText.IsUserFile(rep[0].Url) ? rep.Skip(1).FirstOrDefault()
                : rep.Skip(1).FirstOrDefault(f => CpuText.IsUserFile(f.Url)) ?? rep.Skip(1).FirstOrDefault();
            calledFrom = caller is null ? null : Show(caller, appDir);
            for (var j = 0; usable is not null && j < rep.Count && share is null; j++)
            {
                if (Match(usable, rep[j]) is not (>= 0 and var k)) continue;
                share = 100 * usable.FnTotalUs[k] / usable.ActiveUs;
                countedAs = j == 0 ? null : Show(rep[j], appDir);
            }
        }
        else if (usable is not null && profile?.Hottest is { } h)
        {
            function = h.Name;
            frame = h.Frame;
            stack = h.Stack;
            calledFrom = h.Stack.Count > 1 ? h.Stack[1] : null;
            share = h.TotalPercent;
        }
        return new StallSummary(
            CaptureJson.Long(root, "pid") ?? 0, CaptureJson.Long(root, "instance") ?? 0, CaptureJson.String(root, "at") ?? "",
            CaptureJson.Long(root, "blocked_ms") ?? 0, CaptureJson.Long(root, "window_ms") ?? 0, CaptureJson.String(root, "profile") ?? "",
            function, frame, calledFrom, stack, stacks.Count, inFunction, share, countedAs, problem, profile);
    }

    private sealed record Paused(string Function, string Url, int Line);

    private static List<List<Paused>> Stacks(JsonElement root)
    {
        var stacks = new List<List<Paused>>();
        if (!root.TryGetProperty("stacks", out var all)) return stacks;
        if (all.ValueKind != JsonValueKind.Array) throw new InvalidDataException("not a stall report: \"stacks\" is not an array");
        foreach (var s in all.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.Array) throw new InvalidDataException("not a stall report: a stack is not an array");
            var frames = s.EnumerateArray().Where(f => f.ValueKind == JsonValueKind.Object)
                .Select(f => new Paused(CaptureJson.String(f, "function") ?? "", CaptureJson.String(f, "url") ?? "",
                    (int)Math.Clamp(CaptureJson.Long(f, "line") ?? 0, 0, int.MaxValue)))
                .ToList();
            if (frames.Count > 0) stacks.Add(frames);
        }
        return stacks;
    }

    /// <summary>
    /// The profile's function for a paused frame. The frame has its current line, the profile the line of definition:
    /// among the functions of that name in that file, the one defined last at or before the current line (the
    /// enclosing one), which matters most for anonymous functions, of which a file has many; -1 when none fits.
    /// </summary>
    private static int Match(CpuProfileData p, Paused f)
    {
        var path = CpuText.Path(f.Url);
        int best = -1, loose = -1;
        for (var k = 0; k < p.FnNode.Count; k++)
        {
            if (p.Name(k) != f.Function || !p.IsListed(k) || CpuText.Path(p.Url(k)) != path) continue;
            if (loose < 0 || p.FnTotalUs[k] > p.FnTotalUs[loose]) loose = k;
            if (f.Line > 0 && p.Line(k) > f.Line) continue;
            if (best < 0 || (p.Line(k), p.FnTotalUs[k]).CompareTo((p.Line(best), p.FnTotalUs[best])) > 0) best = k;
        }
        return best >= 0 ? best : f.Function.Length > 0 ? loose : -1;
    }

    private static CpuSummary Summarize(CpuProfileData p, string? appDir)
    {
        var ranked = Enumerable.Range(0, p.FnNode.Count).Where(k => p.IsListed(k) && p.FnSelfUs[k] > 0)
            .OrderByDescending(k => p.FnSelfUs[k]).ThenBy(k => p.Name(k), StringComparer.Ordinal).ToList();
        var top = ranked.Take(TopCount).ToList();
        var hottest = ranked.Where(k => !p.IsMeta(k)).DefaultIfEmpty(ranked.Count > 0 ? ranked[0] : -1).First();
        return new CpuSummary(p.DurationUs / 1000, p.SampleCount, p.ActiveUs / 1000,
            [.. top.Select(k => Function(p, k, appDir))], hottest < 0 ? null : Function(p, hottest, appDir));
    }

    private static CpuFunction Function(CpuProfileData p, int k, string? appDir)
    {
        var hot = p.HotLine(k);
        var pct = (double us) => p.ActiveUs > 0 ? 100 * us / p.ActiveUs : 0;
        return new CpuFunction(Name(p.Name(k)), p.Url(k), p.Line(k), hot, CpuText.Frame(p.Name(k), p.Url(k), hot > 0 ? hot : p.Line(k), appDir),
            p.FnSelfUs[k] / 1000, p.FnTotalUs[k] / 1000, pct(p.FnSelfUs[k]), pct(p.FnTotalUs[k]),
            [.. p.StackOf(k, hot, MaxFrames).Select(f => CpuText.Frame(f.Name, f.Url, f.Line, appDir))]);
    }

    private static string Name(string name) => name.Length == 0 ? "(anonymous)" : name;
    private static string Show(Paused f, string? appDir) => CpuText.Frame(f.Function, f.Url, f.Line, appDir);
}
