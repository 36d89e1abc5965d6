using static NodeKeeper.Core.Diagnosis.StderrLines;

namespace NodeKeeper.Core.Diagnosis;

/// <summary>Node's fatal report starts with "location:line", the source line and a caret line before the error.</summary>
internal readonly record struct NodePreamble(int Location, int Source, int Caret)
{
    public bool Found => Caret >= 0;

    public static NodePreamble Before(List<string> lines, int h)
    {
        var i = h - 1;
        if (i >= 0 && IsBlank(lines[i])) i--;
        if (i < 1 || !IsCaretLine(lines[i])) return new NodePreamble(-1, -1, -1);
        var source = i - 1;
        var location = source - 1;
        if (location < 0 || !EndsWithLineNumber(lines[location])) location = -1;
        return new NodePreamble(location, source, i);
    }
}

/// <summary>
/// The error report taken as fatal: the LAST one in the tail (earlier ones are errors the app logged and survived).
/// It runs from its header to the end of the tail, or just past Node's "Node.js vX" trailer.
/// </summary>
internal readonly record struct FatalBlock(List<string> Lines, int Header, int End, HeaderKind Kind, bool NodeTrailer, NodePreamble Preamble)
{
    public string HeaderLine => Lines[Header];

    /// <summary>V8's FATAL ERROR or a native assertion: no JS stack follows.</summary>
    public bool IsNativeReport => Kind is HeaderKind.Fatal or HeaderKind.Native;

    /// <summary>The last block of the tail, or null when it holds no error header.</summary>
    public static FatalBlock? Last(List<string> lines)
    {
        var headers = ErrorHeaders.FindHeaders(lines);
        if (headers.Count == 0) return null;
        var (h, kind) = headers[^1];
        for (var i = h + 1; i < lines.Count; i++)
            if (IsNodeTrailer(lines[i]))
                return new FatalBlock(lines, h, i + 1, kind, true, NodePreamble.Before(lines, h));
        return new FatalBlock(lines, h, lines.Count, kind, false, NodePreamble.Before(lines, h));
    }

    /// <summary>The first line from <paramref name="from"/> to the end of the block that matches, or -1.</summary>
    public int FindLine(int from, Func<string, bool> predicate)
    {
        for (var i = from; i < End; i++)
            if (predicate(Lines[i]))
                return i;
        return -1;
    }
}
