namespace NodeKeeper.Daemon;

/// <summary>The Node-side probe shipped inside nk (node/preload.js), written to NODEKEEPER_HOME for --require.</summary>
public static class Preload
{
    public static string Text()
    {
        using var s = typeof(Preload).Assembly.GetManifestResourceStream("NodeKeeper.preload.js")
            ?? throw new InvalidOperationException("preload.js is not embedded");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }
}
