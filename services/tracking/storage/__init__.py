"""The temporary-storage report (货物暂存报表): goods waiting at their destination station."""
