-- An upgrade of profile-sync may change the templates of the sync core: compile it again for the
-- mapping in force (nothing on a database that has none yet).
select profile_sync.recompile();
