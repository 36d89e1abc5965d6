namespace NodeKeeper.Core.Captures;

/// <summary>
/// What blocked an app's event loop, from a stall capture: the exact stacks the preload took by pausing the blocked main
/// thread, and the CPU profile it took meanwhile. <see cref="Frame"/> is the innermost frame most common among the pauses
/// (its current line), <see cref="CalledFrom"/> the caller worth naming (the first frame in a user file when the
/// innermost one is Node's own or native). <see cref="SharePercent"/> is how much of the profile's busy time ran inside
/// it; a function V8 had optimized before profiling began (an OSR-compiled loop, an inlined call) is missing from the
/// profile, and then the share is that of the nearest caller the profile has, <see cref="CountedAs"/>.
/// Plain properties only: the daemon stores it as JSON.
/// </summary>
public sealed record StallSummary(
    long Pid, long Instance, string At, long BlockedMs, long WindowMs, string ProfileFile,
    string Function, string Frame, string? CalledFrom, IReadOnlyList<string> Stack,
    int Pauses, int PausesInFunction, double? SharePercent, string? CountedAs,
    string? ProfileProblem, CpuSummary? Profile)
{
    /// <summary>"blocked in X (file:line) called from Y (file:line): 94 % of 3.0 s of samples".</summary>
    public string Headline()
    {
        if (Function.Length == 0)
            return $"blocked {CpuText.Ms(BlockedMs)}: no stack or profile captured";
        var line = $"blocked in {Frame}" + (CalledFrom is null ? "" : $" called from {CalledFrom}");
        if (SharePercent is { } share && Profile is { } p)
            return $"{line}: {CpuText.Pct(share)} of {CpuText.Ms(p.ActiveMs)} of samples";
        return Pauses > 0 ? $"{line}: in {PausesInFunction} of {Pauses} pauses" : line;
    }

    /// <summary>At most 6 short lines for <c>nk why</c>, the headline first.</summary>
    public IReadOnlyList<string> Evidence()
    {
        var lines = new List<string> { Headline() };
        if (Stack.Count > 1) lines.Add(CpuText.StackLine(Stack));
        if (SharePercent is not null && Pauses > 0)
            lines.Add($"pauses: {PausesInFunction} of {Pauses} in {Function}");
        if (CountedAs is not null)
            lines.Add($"{Function} is not in the profile (optimized before it began): its samples count under {CountedAs}");
        if (Pauses == 0 && Profile is not null && ProfileProblem is null)
            lines.Add("no pause landed while it was blocked: this is the profile's stack, which counts a function V8 optimized before the profile began (a hot loop) under its caller");
        if (Profile is { Top.Count: > 0 } prof) lines.Add(CpuSummary.MostSelfTime(prof.Top));
        if (ProfileProblem is not null) lines.Add($"profile not used: {ProfileProblem}");
        return lines;
    }
}
