namespace NodeKeeper.Core.Config;

/// <summary>Finds the valid key nearest to a mistyped one (Levenshtein distance).</summary>
public static class KeySuggester
{
    /// <summary>
    /// The candidate nearest to <paramref name="key"/>, compared case-insensitively, when it is within
    /// max(2, length / 3) edits; otherwise null. Ties go to the earlier candidate.
    /// </summary>
    public static string? Suggest(string key, IEnumerable<string> candidates)
    {
        var lower = key.ToLowerInvariant();
        int limit = Math.Max(2, key.Length / 3);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            if (candidate == key) continue;
            // The distance is at least the difference in length: skip the O(n·m) work for a key far longer
            // than every candidate (a 1 MB key would otherwise cost seconds per unknown key).
            if (Math.Abs(key.Length - candidate.Length) > Math.Min(limit, bestDistance)) continue;
            int d = Distance(lower, candidate.ToLowerInvariant());
            if (d < bestDistance)
            {
                best = candidate;
                bestDistance = d;
            }
        }
        return bestDistance <= limit ? best : null;
    }

    /// <summary>The Levenshtein distance: insertions, deletions and substitutions to turn a into b.</summary>
    public static int Distance(string a, string b)
    {
        if (a.Length == 0) return b.Length;
        if (b.Length == 0) return a.Length;
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
