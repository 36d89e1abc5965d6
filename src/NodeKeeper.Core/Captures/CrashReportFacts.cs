using System.Globalization;
using NodeKeeper.Core.Diagnosis;

namespace NodeKeeper.Core.Captures;

/// <summary>
/// What a Node.js diagnostic report says about the end of a process (see <see cref="CrashReport.Read"/>). Holds no
/// environment variable, command line or error property of the report but a short error code, so it is safe to show.
/// </summary>
/// <param name="Event">
/// <c>header.event</c> verbatim: "Allocation failed - JavaScript heap out of memory" for a heap OOM, but just "Exception"
/// for an uncaught exception or a fatal unhandled rejection (the error is in <see cref="JsStack"/>).
/// </param>
/// <param name="Trigger"><c>header.trigger</c>: "Exception", "OOMError", "FatalError", "Signal", "API", ...</param>
/// <param name="NodeVersion"><c>header.nodejsVersion</c>, e.g. "v20.20.2".</param>
/// <param name="Pid"><c>header.processId</c>.</param>
/// <param name="DumpTime">When the report was written, from <c>header.dumpEventTimeStamp</c> (Unix milliseconds).</param>
/// <param name="DumpTimeText">
/// <c>header.dumpEventTime</c> verbatim. Beware: Node writes the process's LOCAL time there, yet ends it with "Z".
/// </param>
/// <param name="JsStack">The JavaScript error and its frames; null for a fatal error outside JavaScript (heap OOM).</param>
/// <param name="HeapSpaces">The V8 heap spaces (old_space, new_space, ...) by name; empty when absent.</param>
/// <param name="Heap">The heap's totals, or null when absent.</param>
/// <param name="Handles">
/// The open libuv handles by type ("tcp", "timer", "signal", ...), Node's own included; empty when absent (as in the OOM
/// reports of Node 18 and 20). All of an app's JavaScript timers share one libuv "timer".
/// </param>
/// <param name="Resources">CPU time and peak RSS, or null when absent.</param>
public sealed record CrashReportFacts(
    string? Event,
    string? Trigger,
    string? NodeVersion,
    int? Pid,
    DateTimeOffset? DumpTime,
    string? DumpTimeText,
    JsStackFacts? JsStack,
    IReadOnlyDictionary<string, HeapSpaceFacts> HeapSpaces,
    HeapTotals? Heap,
    IReadOnlyDictionary<string, int> Handles,
    ResourceFacts? Resources)
{
    private const int MaxStackFrames = 3;
    private const int MaxHeapSpaces = 3;
    private const double MiB = 1024 * 1024;

    /// <summary>
    /// At most <see cref="ExitClassifier.MaxEvidenceLines"/> short lines for <c>nk why</c>, each cut by
    /// <see cref="ExitClassifier.Clip"/>: what happened, where, the heap at the end, open handles, CPU and peak RSS.
    /// </summary>
    public IReadOnlyList<string> Evidence()
    {
        var lines = new List<string>(5);
        var what = JsStack is { Message.Length: > 0 } js ? OneLine(js.Message) : Event ?? "unknown event";
        var code = JsStack?.Code is { } c ? " code " + c : "";
        var node = NodeVersion is { } v ? $" (Node {v})" : "";
        lines.Add($"diagnostic report: {Trigger ?? "?"} \"{what}\"{code}{node}");

        if (JsStack is { Frames.Count: > 0 } s)
            lines.Add(string.Join(" <- ", s.Frames.Take(MaxStackFrames)));

        if (HeapLine() is { } heap) lines.Add(heap);
        if (HandlesLine() is { } handles) lines.Add(handles);
        if (ResourcesLine() is { } res) lines.Add(res);
        return lines.Take(ExitClassifier.MaxEvidenceLines).Select(ExitClassifier.Clip).ToList();
    }

    /// <summary>The totals, then the biggest spaces (at most 3, each at least 5% of the heap in use), biggest first.</summary>
    private string? HeapLine()
    {
        var inUse = Heap?.Used ?? HeapSpaces.Values.Sum(sp => sp.Used ?? 0);
        var spaces = HeapSpaces.Where(p => p.Value.Used is > 0 && p.Value.Used >= inUse / 20)
            .OrderByDescending(p => p.Value.Used).ThenBy(p => p.Key, StringComparer.Ordinal).Take(MaxHeapSpaces)
            .Select((p, i) => p.Value.Size is { } size
                ? $"{p.Key} {MiBs(p.Value.Used!.Value)}{(i == 0 ? " MiB used" : "")} of {MiBs(size)} MiB"
                : $"{p.Key} {MiBs(p.Value.Used!.Value)} MiB used")
            .ToList();
        string? total = Heap switch
        {
            { Used: { } u, Limit: { } l } => $"{MiBs(u)} MiB used of a {MiBs(l)} MiB limit",
            { Used: { } u } => $"{MiBs(u)} MiB used",
            _ => null,
        };
        if (spaces.Count == 0 && total is null) return null;
        var parts = total is null ? string.Join(", ", spaces)
            : spaces.Count == 0 ? total
            : total + "; " + string.Join(", ", spaces);
        return "heap at the end: " + parts;
    }

    /// <summary>Bytes in MiB: one decimal below 100 MiB, none above.</summary>
    private static string MiBs(long bytes) =>
        (bytes / MiB).ToString(bytes < 100 * MiB ? "0.0" : "0", CultureInfo.InvariantCulture);

    private string? HandlesLine()
    {
        var app = Handles.Where(p => !CrashReport.NodeOwnHandleTypes.Contains(p.Key))
            .OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => Inv($"{p.Value} {p.Key}")).ToList();
        return app.Count == 0 ? null : "open handles: " + string.Join(", ", app);
    }

    private string? ResourcesLine()
    {
        if (Resources is not { } r) return null;
        var parts = new List<string>(2);
        if (r.UserCpuSeconds is not null || r.KernelCpuSeconds is not null)
            parts.Add(Inv($"CPU {r.UserCpuSeconds ?? 0:0.0#} s user, {r.KernelCpuSeconds ?? 0:0.0#} s system"));
        if (r.MaxRssBytes is { } rss) parts.Add($"peak RSS {MiBs(rss)} MiB");
        return parts.Count == 0 ? null : string.Join("; ", parts);
    }

    private static string OneLine(string s) => s.Replace("\r", "", StringComparison.Ordinal).Replace('\n', ' ');

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The JavaScript error of a report (<c>javascriptStack</c>).</summary>
/// <param name="Message">
/// The error as Node prints it ("TypeError: ..."), or the thrown value when it is not an Error. A multi-line message is
/// kept whole: Node 18–22 put its 2nd and later lines in the report's stack array, before the frames.
/// </param>
/// <param name="Frames">
/// Up to 10 frames, "at fn (/app/x.js:12:5)". Node 18–22 leave out the error's LAST frame, so a one-frame stack (e.g. of
/// an async function's rejection) comes out empty.
/// </param>
/// <param name="Code">The error's <c>code</c> property ("ECONNREFUSED") when it is a short identifier, else null.</param>
public sealed record JsStackFacts(string Message, IReadOnlyList<string> Frames, string? Code);

/// <summary>One V8 heap space in bytes (<c>javascriptHeap.heapSpaces.*</c>); null when not in the report.</summary>
/// <param name="Used"><c>used</c>: bytes of live and not-yet-collected objects.</param>
/// <param name="Size"><c>memorySize</c>: the space's size (V8's space_size).</param>
/// <param name="Committed"><c>committedMemory</c>.</param>
/// <param name="Capacity"><c>capacity</c>.</param>
/// <param name="Available"><c>available</c>.</param>
public sealed record HeapSpaceFacts(long? Used, long? Size, long? Committed, long? Capacity, long? Available);

/// <summary>The V8 heap's totals in bytes (<c>javascriptHeap</c>).</summary>
/// <param name="Used"><c>usedMemory</c>.</param>
/// <param name="Total"><c>totalMemory</c>: the heap's size.</param>
/// <param name="Limit"><c>memoryLimit</c>: what <c>--max-old-space-size</c> allows, plus the young generation.</param>
public sealed record HeapTotals(long? Used, long? Total, long? Limit);

/// <summary>The process's resource use at the report (<c>resourceUsage</c>).</summary>
/// <param name="UserCpuSeconds"><c>userCpuSeconds</c>.</param>
/// <param name="KernelCpuSeconds"><c>kernelCpuSeconds</c>.</param>
/// <param name="MaxRssBytes"><c>maxRss</c>, in bytes (see <see cref="CrashReport.Read"/> for the unit check).</param>
public sealed record ResourceFacts(double? UserCpuSeconds, double? KernelCpuSeconds, long? MaxRssBytes);
