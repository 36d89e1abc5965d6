using Microsoft.Extensions.Logging;
using NodeKeeper.Core.Config;
using NodeKeeper.Daemon.Processes;

namespace NodeKeeper.Daemon.State;

/// <summary>
/// What a daemon that died (kill -9, a crash, a signal) left running, and how it is ended: a daemon that takes over the
/// home does it before it starts the apps again, and `nk kill` does it when no daemon answers. Processes are found by
/// pid and start time from state.json, and by the marks every instance carries (this home and its app's name in its
/// environment), never by name; each gets its app's kill_signal, then SIGKILL after its kill_timeout.
/// </summary>
public static class Predecessor
{
    /// <summary>Ends every recorded process that still runs (same pid, same start time) and its descendants; returns how many.</summary>
    public static async Task<int> EndRecordedAsync(SavedState state, TimeProvider clock, ILogger logger, CancellationToken ct)
    {
        var ending = new List<Task>();
        var count = 0;
        foreach (var app in state.Apps)
        {
            var signal = Signals.Number(app.Spec.KillSignal) ?? 15;
            var killAt = clock.GetUtcNow() + app.Spec.KillTimeout;
            foreach (var instance in app.Instances)
            {
                var known = instance.Tree.Select(p => new ProcessId(p.Pid, p.StartTime)).ToList();
                if (instance.Process is { } main) known.Add(new ProcessId(main.Pid, main.StartTime));
                var alive = known.Where(k => k.Pid > 1 && k.Pid != Environment.ProcessId && k.IsAlive()).ToList();
                if (alive.Count == 0) continue;
                count += alive.Count;
                logger.LogWarning("{App}:{Index}: ending {Count} process(es) left by the previous daemon: {Pids}",
                    app.Spec.Name, instance.Index, alive.Count, string.Join(" ", alive.Select(a => a.Pid)));
                // The root only when it is still the very process recorded: its tree is then its own.
                var root = instance.Process is { } r && alive.Contains(new ProcessId(r.Pid, r.StartTime)) ? r.Pid : alive[0].Pid;
                ending.Add(ProcessTree.EndAsync(root, alive, signal, killAt, clock, ct));
            }
        }
        await Task.WhenAll(ending);
        return count;
    }

    /// <summary>
    /// Ends what a previous daemon launched but never wrote into state.json (it rewrites the file 100 ms after a change,
    /// so a kill -9 right after a launch leaves the new process unrecorded): every live process that carries this home
    /// and one of these apps in its environment. Returns how many.
    /// </summary>
    public static async Task<int> EndUnrecordedAsync(string home, IReadOnlyList<SavedApp> saved, TimeProvider clock, ILogger logger, CancellationToken ct)
    {
        var specs = new Dictionary<string, AppSpec>();
        foreach (var a in saved) specs.TryAdd(a.Spec.Name, a.Spec);
        var marked = ProcessTree.MarkedBy(home, specs.Keys.ToHashSet());
        if (marked.Count == 0) return 0;
        var ending = new List<Task>();
        foreach (var group in marked.GroupBy(m => m.App))
        {
            var spec = specs[group.Key];
            logger.LogWarning("{App}: ending {Count} process(es) of a previous daemon that its state file did not record: {Pids}",
                group.Key, group.Count(), string.Join(" ", group.Select(m => m.Id.Pid)));
            var signal = Signals.Number(spec.KillSignal) ?? 15;
            var killAt = clock.GetUtcNow() + spec.KillTimeout;
            foreach (var (id, _) in group)
                ending.Add(ProcessTree.EndAsync(id.Pid, [id], signal, killAt, clock, ct));
        }
        await Task.WhenAll(ending);
        return marked.Count;
    }
}
