namespace NodeKeeper.Core.Config;

/// <summary>Shell-style globs for ignore_watch: `*` (within a name), `**` (any depth), `?`.</summary>
public static class Glob
{
    public static bool Matches(string pattern, string path) => Match(pattern.AsSpan(), path.AsSpan());

    private static bool Match(ReadOnlySpan<char> p, ReadOnlySpan<char> s)
    {
        while (!p.IsEmpty)
        {
            if (p.StartsWith("**"))
            {
                var rest = p[2..].TrimStart('/');
                for (var i = 0; i <= s.Length; i++)
                    if (Match(rest, s[i..])) return true;
                return false;
            }
            if (p[0] == '*')
            {
                for (var i = 0; i <= s.Length && (i == 0 || s[i - 1] != '/'); i++)
                    if (Match(p[1..], s[i..])) return true;
                return false;
            }
            if (s.IsEmpty || (p[0] != '?' && p[0] != s[0]) || (p[0] == '?' && s[0] == '/')) return false;
            p = p[1..];
            s = s[1..];
        }
        return s.IsEmpty;
    }
}
