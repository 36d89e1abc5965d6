using System.Text.Json;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Import;

/// <summary>watch and ignore_watch: paths resolved against the app's cwd, patterns kept as written.</summary>
internal static class Pm2Watch
{
    public static Mapping Map(Pm2App app, string cwd)
    {
        var m = new Mapping(app);
        if (m.Take("watch", out var w))
        {
            List<string>? paths = w.ValueKind switch
            {
                JsonValueKind.True => [cwd],
                JsonValueKind.False => [],
                JsonValueKind.String => [w.GetString()!],
                JsonValueKind.Array when w.EnumerateArray().All(i => i.ValueKind == JsonValueKind.String) => w.EnumerateArray().Select(i => i.GetString()!).ToList(),
                _ => null,
            };
            if (paths is null || paths.Any(p => p.Length == 0)) m.Invalid("watch", w, "true, false, a path or an array of paths");
            else if (paths.Count > 0) m.Line("watch", TomlText.Array(paths.Select(p => ConfigPaths.Resolve(cwd, p))));
        }
        if (m.StringList("ignore_watch", splitString: true) is { Count: > 0 } ignore) m.Line("ignore_watch", TomlText.Array(ignore));
        return m;
    }
}
