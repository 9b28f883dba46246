-- Chunked uploads as Nextcloud and ownCloud clients send them: the client names each transfer
-- (`/remote.php/dav/uploads/{user}/{transfer}`), and each is a tus upload underneath. The row
-- goes with its upload.
CREATE TABLE chunk_transfers (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    transfer TEXT NOT NULL,
    upload_id TEXT NOT NULL REFERENCES tus_uploads (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, transfer)
);
CREATE INDEX chunk_transfers_upload ON chunk_transfers (upload_id);
