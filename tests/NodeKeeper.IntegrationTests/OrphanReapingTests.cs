namespace NodeKeeper.IntegrationTests;

/// <summary>Orphans an app leaves (reparented to the daemon, a child subreaper) are reaped when they end, not seconds later.</summary>
public sealed class OrphanReapingTests
{
    [Fact]
    public async Task A_grandchild_that_outlives_its_parent_is_no_zombie_for_more_than_a_moment()
    {
        await using var home = new TestHome();
        // Every 400 ms a shell starts `sleep 0.3` in the background and exits at once: the sleep is reparented to the
        // daemon, and ends 300 ms later as the daemon's zombie until the daemon reaps it.
        var script = Path.Combine(home.Configs, "orphans.js");
        File.WriteAllText(script, """
            const { spawn } = require('child_process');
            setInterval(() => spawn('sh', ['-c', 'sleep 0.3 & exit 0'], { stdio: 'ignore' }), 400);
            """);
        var config = home.WriteConfig($"[[app]]\nname = \"o\"\nscript = \"{script}\"\n");
        await home.OkAsync("start", config);
        var daemon = home.DaemonPid()!.Value;

        var firstSeen = new Dictionary<int, DateTime>();
        var longest = TimeSpan.Zero;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(8);
        while (DateTime.UtcNow < deadline)
        {
            var zombies = ZombieChildren(daemon);
            foreach (var pid in zombies) firstSeen.TryAdd(pid, DateTime.UtcNow);
            foreach (var pid in firstSeen.Keys.Where(p => !zombies.Contains(p)).ToList())
            {
                var lived = DateTime.UtcNow - firstSeen[pid];
                if (lived > longest) longest = lived;
                firstSeen.Remove(pid);
            }
            foreach (var (_, at) in firstSeen)
                if (DateTime.UtcNow - at > longest) longest = DateTime.UtcNow - at;
            await Task.Delay(20);
        }
        // The sampler's pass came every 5 s; SIGCHLD comes at once (1.5 s leaves room for a loaded machine).
        longest.Should().BeLessThan(TimeSpan.FromSeconds(1.5), "an orphan is reaped when SIGCHLD says it ended");
        (await home.InstanceAsync("o")).Status.Should().Be("online");
    }

    private static HashSet<int> ZombieChildren(int daemon)
    {
        var zombies = new HashSet<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{daemon}/task"))
            {
                foreach (var word in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    if (int.TryParse(word, out var pid) && Procs.IsZombie(pid)) zombies.Add(pid);
            }
        }
        catch (IOException) { }
        return zombies;
    }
}
