using System.Globalization;
using System.Text.Json;

namespace NodeKeeper.Core.Captures;

/// <summary>
/// Reads a Node.js diagnostic report (<c>process.report</c>, written on a fatal error or an uncaught exception when the
/// preload turns it on) into the few facts an operator needs in <c>nk why</c>, and recognises report files by pid.
/// </summary>
/// <remarks>
/// Checked against real reports of Node 18, 20 and 22 (reportVersion 3, 4, 5). Pure: <see cref="JsonDocument"/> only, no
/// reflection (NativeAOT). It never reads <c>environmentVariables</c>, <c>commandLine</c> or the error's properties
/// (other than a short <c>code</c>), which may hold secrets.
/// </remarks>
public static class CrashReport
{
    /// <summary>The default most bytes <see cref="Read"/> accepts (reports are 10–200 KB).</summary>
    public const long DefaultMaxBytes = 16 * 1024 * 1024;

    private const int MaxFrames = 10;

    /// <summary>The libuv handle types Node opens for itself in every process; they say nothing about the app.</summary>
    internal static readonly string[] NodeOwnHandleTypes = ["async", "check", "idle", "prepare", "loop"];

    /// <summary>Reads one report from <paramref name="json"/> (read to its end, not disposed).</summary>
    /// <returns>The facts; any of them may be missing (null or empty) in a report of another version.</returns>
    /// <exception cref="InvalidDataException">
    /// The input is not a diagnostic report: longer than <paramref name="maxBytes"/>, not JSON (or cut short), or not an
    /// object with a <c>header</c> that names a report version or Node version. The message is one line. No other
    /// exception is thrown for bad content (I/O errors of the stream itself propagate).
    /// </exception>
    public static CrashReportFacts Read(Stream json, long maxBytes = DefaultMaxBytes)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        var bytes = ReadBounded(json, maxBytes);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            var where = e is JsonException je && je.LineNumber is { } line
                ? string.Create(CultureInfo.InvariantCulture, $" (line {line + 1}, byte {je.BytePositionInLine + 1})")
                : "";
            throw new InvalidDataException("not a Node.js diagnostic report: invalid or truncated JSON" + where);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("header", out var header) ||
                header.ValueKind != JsonValueKind.Object ||
                (Long(header, "reportVersion") is null && Str(header, "nodejsVersion") is null))
                throw new InvalidDataException("not a Node.js diagnostic report: no header with reportVersion or nodejsVersion");

            var ms = Long(header, "dumpEventTimeStamp");
            DateTimeOffset? dumped = ms is >= 0 and <= 253402300799999 ? DateTimeOffset.FromUnixTimeMilliseconds(ms.Value) : null;
            var pid = Long(header, "processId");
            var (spaces, totals) = ReadHeap(root);
            return new CrashReportFacts(
                Str(header, "event"), Str(header, "trigger"), Str(header, "nodejsVersion"),
                pid is > 0 and <= int.MaxValue ? (int)pid : null, dumped, Str(header, "dumpEventTime"),
                ReadStack(root), spaces, totals, ReadHandles(root), ReadResources(root));
        }
    }

    /// <summary>
    /// The pid in a report file's default name <c>report.YYYYMMDD.HHMMSS.PID.TID.SEQ.json</c> (a path is allowed), or null
    /// when the name is not of that form. The date and time in the name are the crashed process's local time.
    /// </summary>
    public static int? PidOfReportFile(string fileName)
    {
        if (string.IsNullOrEmpty(fileName)) return null;
        var parts = Path.GetFileName(fileName).Split('.');
        if (parts.Length != 7 || parts[0] != "report" || parts[6] != "json") return null;
        if (parts[1].Length != 8 || parts[2].Length != 6) return null;
        for (var i = 1; i <= 5; i++)
            if (parts[i].Length == 0 || !parts[i].All(char.IsAsciiDigit)) return null;
        return int.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
    }

    /// <summary>Whether <paramref name="fileName"/> is a report file (default name) written by process <paramref name="pid"/>.</summary>
    public static bool IsReportFileOf(string fileName, int pid) => pid > 0 && PidOfReportFile(fileName) == pid;

    private static ReadOnlyMemory<byte> ReadBounded(Stream s, long max)
    {
        if (s.CanSeek && s.Length - s.Position > max) throw TooBig(s.Length - s.Position, max);
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = s.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (buffer.Length + n > max) throw TooBig(null, max);
            buffer.Write(chunk, 0, n);
        }
        var all = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        return all.Span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? all[3..] : all;
    }

    private static InvalidDataException TooBig(long? size, long max) => new(string.Create(CultureInfo.InvariantCulture,
        $"not read as a Node.js diagnostic report: {(size is { } s ? s + " bytes" : "more bytes")}, over the limit of {max} bytes"));

    private static JsStackFacts? ReadStack(JsonElement root)
    {
        if (!Obj(root, "javascriptStack", out var js)) return null;
        var message = Str(js, "message");
        var frames = new List<string>();
        var continuation = new List<string>();
        if (js.TryGetProperty("stack", out var stack) && stack.ValueKind == JsonValueKind.Array)
            foreach (var item in stack.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) continue;
                var line = item.GetString()!.Trim();
                if (line.StartsWith("at ", StringComparison.Ordinal)) { if (frames.Count < MaxFrames) frames.Add(line); }
                else if (frames.Count == 0 && line.Length > 0 && line != "Unavailable.") continuation.Add(line); // message line 2+
            }
        if (message is null or "No stack." && frames.Count == 0) return null; // a fatal error outside JavaScript (OOM)
        if (continuation.Count > 0) message = string.Join("\n", [message ?? "", .. continuation]);
        string? code = null;
        if (Obj(js, "errorProperties", out var props) && Str(props, "code") is { Length: > 0 and <= 40 } c &&
            c.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_'))
            code = c;
        return new JsStackFacts(message ?? "", frames, code);
    }

    private static (IReadOnlyDictionary<string, HeapSpaceFacts>, HeapTotals?) ReadHeap(JsonElement root)
    {
        var spaces = new Dictionary<string, HeapSpaceFacts>(StringComparer.Ordinal);
        if (!Obj(root, "javascriptHeap", out var heap)) return (spaces, null);
        if (Obj(heap, "heapSpaces", out var hs))
            foreach (var p in hs.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Object)
                    spaces[p.Name] = new HeapSpaceFacts(Long(p.Value, "used"), Long(p.Value, "memorySize"),
                        Long(p.Value, "committedMemory"), Long(p.Value, "capacity"), Long(p.Value, "available"));
        var totals = new HeapTotals(Long(heap, "usedMemory"), Long(heap, "totalMemory"), Long(heap, "memoryLimit"));
        return (spaces, totals is { Used: null, Total: null, Limit: null } ? null : totals);
    }

    private static IReadOnlyDictionary<string, int> ReadHandles(JsonElement root)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("libuv", out var uv) && uv.ValueKind == JsonValueKind.Array)
            foreach (var h in uv.EnumerateArray())
                if (h.ValueKind == JsonValueKind.Object && Str(h, "type") is { Length: > 0 } type)
                    counts[type] = counts.GetValueOrDefault(type) + 1;
        return counts;
    }

    private static ResourceFacts? ReadResources(JsonElement root)
    {
        if (!Obj(root, "resourceUsage", out var ru)) return null;
        var maxRss = Long(ru, "maxRss");
        // Bytes in the reports of Node 18, 20 and 22 (ru_maxrss * 1024), while process.resourceUsage().maxRSS is in KiB.
        // Should a report hold KiB, its peak would be below the current rss, or implausibly small for a Node process.
        var rss = Long(ru, "rss");
        if (maxRss is { } m && ((rss is { } r && m < r / 2) || (rss is null && m < 16L * 1024 * 1024)))
            maxRss = m * 1024;
        var facts = new ResourceFacts(Double(ru, "userCpuSeconds"), Double(ru, "kernelCpuSeconds"), maxRss);
        return facts is { UserCpuSeconds: null, KernelCpuSeconds: null, MaxRssBytes: null } ? null : facts;
    }

    private static bool Obj(JsonElement e, string name, out JsonElement value) =>
        e.TryGetProperty(name, out value) && value.ValueKind == JsonValueKind.Object;

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>An integer property, given as a JSON number or a string of digits (as dumpEventTimeStamp is).</summary>
    private static long? Long(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Number)
            return v.TryGetInt64(out var l) ? l : v.TryGetDouble(out var d) && Math.Abs(d) < 9e18 ? (long)d : null;
        return v.ValueKind == JsonValueKind.String &&
               long.TryParse(v.GetString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var s) ? s : null;
    }

    private static double? Double(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d)
            ? d : null;
}
