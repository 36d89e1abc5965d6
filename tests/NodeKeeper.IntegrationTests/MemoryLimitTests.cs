namespace NodeKeeper.IntegrationTests;

public sealed class MemoryLimitTests
{
    [Fact]
    public async Task App_growing_past_max_memory_is_restarted_with_reason_max_memory()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("leak", "leaker.js", "max_memory = \"150M\"\nenv = { GROW_MB = \"25\", EVERY_MS = \"250\" }"));
        await home.OkAsync("start", config);
        // The first restart may already have come by the time a status is read: wait for the one after what was read.
        var first = await home.InstanceAsync("leak");
        var after = await home.WaitForAsync("leak", i => i.Restarts > first.Restarts && i.LastExit != null, "restarted", seconds: 30);
        after.LastExit!.Reason.Should().Be("max_memory");
        after.Pid.Should().NotBe(first.Pid);
    }

    [Fact]
    public async Task Max_open_files_sets_the_apps_limit_and_status_shows_it()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js", "max_open_files = 1234"));
        await home.OkAsync("start", config);
        var w = await home.WaitForAsync("w", i => i.MaxOpenFiles != null && i.OpenFiles != null, "sampled");
        w.MaxOpenFiles.Should().Be(1234);
        w.OpenFiles.Should().BeInRange(3, 1234);
        w.MemoryBytes.Should().BeGreaterThan(10 * 1024 * 1024);
    }
}
