namespace NodeKeeper.IntegrationTests;

/// <summary>The sampler reaches every instance once a second, whatever apps came and went before.</summary>
public sealed class SamplerTests
{
    [Fact]
    public async Task After_an_app_with_max_memory_is_deleted_a_new_instance_still_gets_its_cpu_and_memory()
    {
        await using var home = new TestHome();
        var busy = home.WriteConfig(TestHome.App("busy", "busy.js"), "busy.toml");
        var limited = home.WriteConfig(TestHome.App("limited", "worker.js", "max_memory = \"2G\""), "limited.toml");
        await home.OkAsync("start", busy);
        // An app with max_memory makes the sampler look four times a second; its deletion takes it back to once a
        // second, at whatever count the fast passes reached (one in four is a full pass): four rounds meet other counts.
        for (var round = 0; round < 4; round++)
        {
            await home.OkAsync("start", limited);
            await home.WaitForAsync("limited", i => i.MemoryBytes is not null, "the limited app sampled");
            await home.OkAsync("delete", "limited");
            await home.OkAsync("restart", "busy");
            var pid = (await home.InstanceAsync("busy")).Pid;
            await home.WaitForAsync("busy", i => i.Pid == pid && i.CpuPercent is not null && i.MemoryBytes is not null,
                $"round {round}: cpu and memory of the new busy instance", seconds: 10);
        }
    }
}
