using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Rendering;

namespace NodeKeeper.Cli;

/// <summary>Waits until the instances a command touched are ready, or have failed.</summary>
public static class Waiter
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>Returns the app names that did not become ready, each with why.</summary>
    public static async Task<List<string>> WaitReadyAsync(ControlClient client, IReadOnlyList<Touched> touched, CancellationToken ct)
    {
        var pending = touched.ToList();
        var failures = new List<string>();
        var until = DateTime.UtcNow + Deadline;
        while (pending.Count > 0)
        {
            var status = await client.SendAsync(new Request { Cmd = Commands.Status }, ct);
            var rows = status.Instances ?? [];
            foreach (var t in pending.ToList())
            {
                var row = rows.FirstOrDefault(r => r.Name == t.Name && r.Instance == t.Instance);
                if (row is null) { pending.Remove(t); failures.Add($"{t.Name}:{t.Instance} is gone"); continue; }
                var launched = row.Starts > t.StartsBefore;
                if (launched && row.Status == "online") { pending.Remove(t); continue; }
                if (launched && row.Status is "errored" or "stopped" or "backoff")
                {
                    pending.Remove(t);
                    failures.Add($"{t.Name}:{t.Instance} is {row.Status}, last exit: {Render.LastExit(row.LastExit)}");
                }
            }
            if (pending.Count == 0) break;
            if (DateTime.UtcNow > until)
            {
                failures.AddRange(pending.Select(t => $"{t.Name}:{t.Instance} is still not ready after {Deadline.TotalSeconds}s"));
                break;
            }
            await Task.Delay(50, ct);
        }
        return failures;
    }
}
