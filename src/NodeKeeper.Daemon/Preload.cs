namespace NodeKeeper.Daemon;

/// <summary>The Node-side probe shipped inside nk (node/preload.js), written to NODEKEEPER_HOME for --require.</summary>
public static class Preload
{
    /// <summary>The preload as node loads it: <see cref="WithoutCommentLines"/> of the embedded file.</summary>
    public static string Text()
    {
        using var s = typeof(Preload).Assembly.GetManifestResourceStream("NodeKeeper.preload.js")
            ?? throw new InvalidOperationException("preload.js is not embedded");
        using var r = new StreamReader(s);
        return WithoutCommentLines(r.ReadToEnd());
    }

    /// <summary>
    /// The source with every line that is only a `//` comment left empty (so line numbers stay). Every app compiles the
    /// preload at its start and keeps its source as a string in its young heap: a third of it is comment lines, and
    /// what the preload adds to the young heap of a fresh app is what brings its first young collection closer (after a
    /// restart of hundreds of identical apps, they all come at once). Safe for the preload because none of its template
    /// literals spans lines (a unit test holds it to that).
    /// </summary>
    public static string WithoutCommentLines(string source)
    {
        var lines = source.Split('\n');
        for (var i = 0; i < lines.Length; i++)
            if (lines[i].AsSpan().TrimStart().StartsWith("//")) lines[i] = "";
        return string.Join('\n', lines);
    }
}
