using NodeKeeper.Core.Config;
using NodeKeeper.Core.Import;
using static NodeKeeper.Core.Tests.Config.ConfigKit;

namespace NodeKeeper.Core.Tests.Import;

/// <summary>nk import --check: what would keep each app from starting on a machine, one line each.</summary>
public class ImportCheckTests
{
    private static readonly MachineFacts Here = new()
    {
        FileExists = p => p is "/srv/shop/server.js" or "/srv/shop/job.sh" or "/srv/shop/not-x",
        DirectoryExists = d => d == "/srv/shop",
        Which = n => n is "node" or "npm" or "python3" ? "/usr/bin/" + n : null,
        IsExecutable = p => p != "/srv/shop/not-x",
        PortHolder = p => p == 3000 ? "pid 42 (nginx)" : null,
        UserExists = u => u is "www-data" or "33",
    };

    private static NodeKeeperConfig Config(string toml) => Load(toml).Config!;

    [Fact]
    public void Every_app_that_would_start_gives_no_line()
    {
        ImportCheck.Problems(Config("""
            [[app]]
            name = "api"
            script = "server.js"
            port = 3001
            user = "www-data"
            [[app]]
            name = "web"
            script = "npm"
            interpreter = "none"
            [[app]]
            name = "job"
            script = "./job.sh"
            interpreter = "none"
            """), Here).Should().BeEmpty();
    }

    [Fact]
    public void Each_problem_is_a_line_that_names_the_app_and_what_to_do()
    {
        var problems = ImportCheck.Problems(Config("""
            [[app]]
            name = "api"
            script = "missing.js"
            cwd = "nowhere"
            port = 2999
            port_mode = "increment"
            instances = 2
            user = "nobody2"
            [[app]]
            name = "py"
            script = "server.js"
            interpreter = "python9"
            [[app]]
            name = "bin"
            script = "./not-x"
            interpreter = "none"
            [[app]]
            name = "tool"
            script = "yarn"
            interpreter = "none"
            """), Here);

        problems.Should().Equal(
            "app \"api\": cwd /srv/shop/nowhere does not exist: create it or fix cwd",
            "app \"api\": script /srv/shop/nowhere/missing.js does not exist: deploy it there, or fix script (or cwd)",
            "app \"api\": user \"nobody2\" does not exist on this machine",
            "app \"api\": port 3000 is taken by pid 42 (nginx): stop it, or change port",
            "app \"py\": interpreter \"python9\" is not on PATH here: install it, or give its path",
            "app \"bin\": script /srv/shop/not-x is not executable: chmod +x it, or give it an interpreter",
            "app \"tool\": script \"yarn\" is not on PATH here: install it, or give its path");
    }
}
