namespace NodeKeeper.Core.Diagnosis;

/// <summary>
/// One way a line can show a signature: it contains every part. Error codes are matched exactly (EMFILE, not "emfile"
/// in a path), messages case-insensitively where Node's wording has varied. Plain substring search: linear, no regex.
/// </summary>
internal sealed record Wording(IReadOnlyList<(string Text, StringComparison Comparison)> Parts)
{
    public static Wording Exact(string text) => new([(text, StringComparison.Ordinal)]);

    public static Wording AnyCase(string text) => new([(text, StringComparison.OrdinalIgnoreCase)]);

    /// <summary>Both in the same line.</summary>
    public static Wording operator &(Wording a, Wording b) => new([.. a.Parts, .. b.Parts]);

    public bool In(string line)
    {
        foreach (var (text, comparison) in Parts)
            if (!line.Contains(text, comparison))
                return false;
        return true;
    }

    public static bool AnyIn(IReadOnlyList<Wording> wordings, string line)
    {
        foreach (var w in wordings)
            if (w.In(line))
                return true;
        return false;
    }
}

/// <summary>Adds the lines of a fatal block that show a cause best, besides its header and the line that matched.</summary>
internal delegate void EvidenceRule(FatalBlock block, SortedSet<int> evidence);

/// <summary>A finer cause a signature takes when its own line, or a later line or a frame of its block, shows the hint.</summary>
internal sealed record CauseHint(string Cause, IReadOnlyList<Wording> InLine, IReadOnlyList<Wording> InFrame);

/// <summary>A specific cause that one non-frame stderr line shows, whatever the error is called or how it surfaced.</summary>
/// <param name="Name">Unique in all the tables of <see cref="ExitSignatures"/>.</param>
/// <param name="Rank">
/// In a fatal block the lowest rank on any line wins, and of equal ranks the earliest line. On one line the first
/// signature of the table that matches wins, so ranks never decrease down the table.
/// </param>
/// <param name="Wordings">The line shows the signature when it holds any one of these.</param>
internal sealed record LineSignature(string Name, int Rank, string Reason, string? Cause, IReadOnlyList<Wording> Wordings)
{
    public CauseHint? Hint { get; init; }

    public EvidenceRule? Evidence { get; init; }

    public bool Matches(string line) => Wording.AnyIn(Wordings, line);

    /// <summary>The cause one line shows on its own, without a block around it.</summary>
    public string? CauseOf(string line) => Hint is { } h && Wording.AnyIn(h.InLine, line) ? h.Cause : Cause;
}

/// <summary>How a generic error surfaced, for a fatal block in which no line shows a specific cause.</summary>
internal sealed record BlockSignature(string Name, string Reason, string Cause, Func<FatalBlock, bool> Matches)
{
    public EvidenceRule? Evidence { get; init; }
}

/// <summary>How the process ended, as far as the exit status and NodeKeeper know; <see cref="Signal"/> has its "SIG" prefix.</summary>
internal readonly record struct ExitStatus(int? Code, string? Signal, bool SentByNodeKeeper, bool KernelOomKill);

/// <summary>An exit the status alone explains, whatever stderr says.</summary>
internal sealed record StatusSignature(string Name, string Reason, string? Cause, Func<ExitStatus, bool> Matches);
