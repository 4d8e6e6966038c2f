-- WeCom delivery shared by every replica: the posts of the last minute per robot (the robot's
-- limit holds across replicas), and the nudges already posted (a republished nudge is posted
-- once). `robot` is a digest of the webhook URL, which carries the robot's key.
CREATE TABLE wecom_posts (
    robot text NOT NULL,
    posted_at timestamptz NOT NULL
);
CREATE INDEX wecom_posts_robot ON wecom_posts (robot, posted_at);

CREATE TABLE wecom_delivered (
    event_id text PRIMARY KEY,
    delivered_at timestamptz NOT NULL DEFAULT now()
);
