using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Core.Supervision;

/// <summary>
/// The instances a command touched, followed until each has settled (Settle): what is left is the lines nk prints for
/// those that did not become ready, "NAME:INDEX is …". The daemon looks again after every change of an instance.
/// </summary>
public sealed class SettleWatch(IReadOnlyList<Touched> touched)
{
    private readonly List<Touched> _pending = [.. touched];
    private readonly List<string> _failures = [];

    public IReadOnlyList<string> Failures => _failures;

    /// <summary>Looks at every instance still pending (null: it is gone, scaled down or deleted); true once none is.</summary>
    public bool Update(Func<Touched, InstanceState?> stateOf, DateTimeOffset now)
    {
        foreach (var t in _pending.ToList())
        {
            var settled = stateOf(t) is { } s ? Settle.Of(s, t.StartsBefore) : null;
            if (settled is { IsPending: true }) continue;
            _pending.Remove(t);
            if (settled is null) _failures.Add($"{t.Name}:{t.Instance} is gone");
            else if (settled.Outcome == SettleOutcome.Failed) _failures.Add($"{t.Name}:{t.Instance} {settled.Why(now)}");
        }
        return _pending.Count == 0;
    }

    /// <summary>The deadline passed: every instance still pending did not become ready in time.</summary>
    public void Expire(TimeSpan deadline)
    {
        _failures.AddRange(_pending.Select(t => $"{t.Name}:{t.Instance} is still not ready after {deadline.TotalSeconds}s"));
        _pending.Clear();
    }
}
