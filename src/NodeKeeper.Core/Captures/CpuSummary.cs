using System.Globalization;

namespace NodeKeeper.Core.Captures;

/// <summary>
/// One function of a CPU profile (V8 counts a function by its name, url and place of definition).
/// <see cref="Frame"/> is what an operator reads, <c>name (file:line)</c>, at the hottest line when the profile has
/// line ticks, else at the definition line. <see cref="Stack"/> (innermost first, as frames) leads to the function's
/// hottest node; its callers are at their definition lines, since a profile has no call-site lines.
/// </summary>
public sealed record CpuFunction(
    string Name, string Url, int Line, int HotLine, string Frame,
    double SelfMs, double TotalMs, double SelfPercent, double TotalPercent, IReadOnlyList<string> Stack);

/// <summary>
/// What a CPU profile says, in a form the daemon can store (plain JSON) and <c>nk why</c> can print: how long it ran,
/// how much of it was busy, and where the busy time went. Percentages are of the busy (non-"(idle)") time.
/// <see cref="Hottest"/> is the function with the most self time, a JavaScript one whenever there is one: "(garbage
/// collector)" and "(program)" are listed in <see cref="Top"/> but are never the answer to "what blocked".
/// </summary>
public sealed record CpuSummary(double DurationMs, long Samples, double ActiveMs, IReadOnlyList<CpuFunction> Top, CpuFunction? Hottest)
{
    /// <summary>At most 4 short lines for <c>nk why</c>.</summary>
    public IReadOnlyList<string> Evidence()
    {
        var lines = new List<string>
        {
            ActiveMs <= 0
                ? $"profile: {CpuText.Ms(DurationMs)}, {Samples} samples, idle throughout"
                : $"profile: {CpuText.Ms(DurationMs)}, {Samples} samples, {CpuText.Pct(DurationMs > 0 ? 100 * ActiveMs / DurationMs : 100)} busy",
        };
        if (Hottest is { } h)
            lines.Add($"hottest: {h.Frame} {CpuText.Ms(h.SelfMs)} self ({CpuText.Pct(h.SelfPercent)}), {CpuText.Ms(h.TotalMs)} with callees ({CpuText.Pct(h.TotalPercent)})");
        if (Top.Count > 0) lines.Add(MostSelfTime(Top));
        if (Hottest is { Stack.Count: > 1 } s) lines.Add(CpuText.StackLine(s.Stack));
        return lines;
    }

    internal static string MostSelfTime(IReadOnlyList<CpuFunction> top) =>
        "most self time: " + string.Join(", ", top.Take(3).Select(f => $"{f.Frame} {CpuText.Ms(f.SelfMs)}"));
}

/// <summary>How captures print: frames, durations, percentages; invariant culture.</summary>
internal static class CpuText
{
    /// <summary>The most frames a printed stack line shows.</summary>
    public const int StackLineFrames = 6;

    /// <summary><c>name (file:line)</c>; "(anonymous)" for a nameless function; no parentheses without a url.</summary>
    public static string Frame(string name, string url, int line, string? appDir)
    {
        var n = name.Length == 0 ? "(anonymous)" : name;
        var file = ShortFile(url, appDir);
        return file.Length == 0 ? n : line > 0 ? $"{n} ({file}:{line.ToString(CultureInfo.InvariantCulture)})" : $"{n} ({file})";
    }

    /// <summary>The url as a path ("file://" removed), relative to the app's directory when under it.</summary>
    public static string ShortFile(string url, string? appDir)
    {
        var path = Path(url);
        if (!string.IsNullOrEmpty(appDir))
        {
            var dir = Path(appDir).TrimEnd('/');
            if (dir.Length > 0 && path.Length > dir.Length + 1 && path.StartsWith(dir + "/", StringComparison.Ordinal))
                return path[(dir.Length + 1)..];
        }
        var nm = path.LastIndexOf("/node_modules/", StringComparison.Ordinal);
        return nm >= 0 ? path[(nm + 1)..] : path;
    }

    /// <summary>A url as a comparable path: "file:///a%20b/x.js" and "/a b/x.js" are the same file.</summary>
    public static string Path(string url)
    {
        if (!url.StartsWith("file://", StringComparison.OrdinalIgnoreCase)) return url;
        var p = url["file://".Length..];
        try { return Uri.UnescapeDataString(p); } catch (UriFormatException) { return p; }
    }

    public static bool IsUserFile(string url) =>
        url.Length > 0 && !url.StartsWith("node:", StringComparison.Ordinal) && !url.StartsWith("internal/", StringComparison.Ordinal);

    public static string StackLine(IReadOnlyList<string> frames) =>
        "stack: " + string.Join(" ← ", frames.Take(StackLineFrames)) + (frames.Count > StackLineFrames ? " ← …" : "");

    public static string Ms(double ms) =>
        ms >= 1000 ? (ms / 1000).ToString("0.0", CultureInfo.InvariantCulture) + " s"
        : Math.Round(ms).ToString("0", CultureInfo.InvariantCulture) + " ms";

    public static string Pct(double percent) =>
        percent > 0 && percent < 0.5 ? "<1 %" : Math.Round(percent).ToString("0", CultureInfo.InvariantCulture) + " %";
}
