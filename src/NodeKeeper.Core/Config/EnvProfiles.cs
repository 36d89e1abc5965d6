using System.Text.RegularExpressions;

namespace NodeKeeper.Core.Config;

/// <summary>
/// Environment profiles, as PM2's: an app's `env_NAME` tables, one of which `nk start --env NAME` merges over `env`
/// (so env_production can set NODE_ENV and the production database while env holds what every profile shares).
/// </summary>
public static partial class EnvProfiles
{
    [GeneratedRegex("^env_([A-Za-z0-9][A-Za-z0-9_-]{0,63})$")]
    private static partial Regex Key();

    /// <summary>NAME for a key env_NAME, or null (env_file is a key of its own, and never a profile).</summary>
    public static string? NameOf(string key) => key != "env_file" && Key().Match(key) is { Success: true } m ? m.Groups[1].Value : null;

    /// <summary>Whether NAME can name a profile (what --env accepts).</summary>
    public static bool ValidName(string name) => NameOf("env_" + name) is not null;

    /// <summary>The app's profiles over [defaults]': a profile the app writes replaces the one of the same name as a whole.</summary>
    internal static IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Merge(
        IReadOnlyDictionary<string, Dictionary<string, string>>? defaults, IReadOnlyDictionary<string, Dictionary<string, string>> app)
    {
        var merged = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        foreach (var (name, env) in defaults ?? new Dictionary<string, Dictionary<string, string>>()) merged[name] = env;
        foreach (var (name, env) in app) merged[name] = env;
        return merged;
    }
}
